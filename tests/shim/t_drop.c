/* The emulator's connection drops in the middle of a call: that call fails with EIO, the next
 * use connects again; the session cannot be resumed here (the fake server keeps none), so the
 * old fds answer EBADF and new opens work. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>

#include "shim_test.h"

int main(void)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	int fd, again;

	fd = open("/dev/iommu", O_RDWR);
	CHECK(fd >= 0);
	CHECK(ioctl(fd, IOMMU_IOAS_ALLOC, &alloc) == 0);
	CHECK_ERRNO(ioctl(fd, TEST_DROP, &alloc), EIO);

	again = open("/dev/iommu", O_RDWR);
	CHECK(again >= 0);
	CHECK(ioctl(again, IOMMU_IOAS_ALLOC, &alloc) == 0);
	CHECK(alloc.out_ioas_id == 1);
	CHECK_ERRNO(ioctl(fd, IOMMU_IOAS_ALLOC, &alloc), EBADF);
	CHECK(close(fd) == 0);
	CHECK(fd_kind(again, fd) == 0);
	CHECK(close(again) == 0);
	return test_result("t_drop");
}
