/* dup, dup2, dup3 and fcntl(F_DUPFD*) of a shim fd: the new number reaches the same emulated
 * file; replacing a shim fd closes it in the emulator. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>

#include "shim_test.h"

int main(void)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	int fd, d, other;

	fd = open("/dev/iommu", O_RDWR);
	CHECK(fd >= 0);

	CHECK(dup2(fd, 50) == 50);
	CHECK(fd_kind(fd, 50) == 1);
	CHECK(ioctl(50, IOMMU_IOAS_ALLOC, &alloc) == 0);
	CHECK(alloc.out_ioas_id == 1);
	CHECK(dup2(fd, fd) == fd);
	CHECK_ERRNO(dup3(fd, fd, 0), EINVAL);

	/* the original closed, the copy lives on */
	CHECK(close(fd) == 0);
	CHECK(fd_kind(50, fd) == 0);
	CHECK(ioctl(50, IOMMU_IOAS_ALLOC, &alloc) == 0);
	CHECK(alloc.out_ioas_id == 2);

	d = dup(50);
	CHECK(d >= 0);
	CHECK(fd_kind(50, d) == 1);

	CHECK(fcntl(50, F_DUPFD_CLOEXEC, 100) >= 100);
	CHECK(fd_kind(50, 100) == 1);
	CHECK((fcntl(100, F_GETFD) & FD_CLOEXEC) != 0);
	CHECK(fcntl(50, F_DUPFD, 100) == 101);
	CHECK(fd_kind(50, 101) == 1);

	CHECK(dup3(50, 60, O_CLOEXEC) == 60);
	CHECK(fd_kind(50, 60) == 1);

	/* dup2 onto another shim fd: the old file behind 60 is closed, then 60 is the vfio cdev */
	other = open("/dev/vfio/devices/vfio3", O_RDWR);
	CHECK(other >= 0);
	CHECK(dup2(other, 60) == 60);
	CHECK(fd_kind(50, 60) == 2);

	/* an ordinary fd over a shim fd: the emulator forgets the number */
	int null = open("/dev/null", O_RDONLY);
	CHECK(dup2(null, 101) == 101);
	CHECK(fd_kind(50, 101) == 0);
	CHECK(read(101, &alloc, sizeof(alloc)) == 0);	/* /dev/null now */
	close(null);
	close(101);

	/* a bad oldfd leaves newfd alone */
	CHECK_ERRNO(dup2(999, 100), EBADF);
	CHECK(fd_kind(50, 100) == 1);

	CHECK(close(100) == 0);
	CHECK(close(60) == 0);
	CHECK(close(other) == 0);
	CHECK(close(d) == 0);
	CHECK(fd_kind(50, d) == 0);
	CHECK(close(50) == 0);
	return test_result("t_dup");
}
