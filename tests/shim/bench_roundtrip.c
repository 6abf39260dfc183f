/* Round-trip cost of one ioctl through the shim: IOMMU_IOAS_ALLOC in a loop, or with "noop" an
 * ioctl number iommufd does not have (answered ENOTTY by the iommufd file: a full round trip
 * that changes nothing).
 * Usage: IOMMUFD_SOCKET=... LD_PRELOAD=build/libiommufd_shim.so bench_roundtrip [COUNT [noop]] */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "shim_test.h"

int main(int argc, char **argv)
{
	long count = argc > 1 ? atol(argv[1]) : 20000;
	int noop = argc > 2 && strcmp(argv[2], "noop") == 0;
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct timespec t0, t1;
	int fd = open("/dev/iommu", O_RDWR);

	if (fd < 0) {
		perror("open /dev/iommu");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < count; i++) {
		if (noop) {
			if (ioctl(fd, _IO(';', 0xff), &alloc) != -1 || errno != ENOTTY) {
				perror("no-op ioctl");
				return 1;
			}
		} else if (ioctl(fd, IOMMU_IOAS_ALLOC, &alloc)) {
			perror("IOMMU_IOAS_ALLOC");
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ns = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / count;
	printf("%ld %s ioctls, %.1f us per round trip\n", count, noop ? "no-op" : "IOAS_ALLOC", ns / 1000);
	close(fd);
	return 0;
}
