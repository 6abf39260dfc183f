/* open, ioctl and close of emulated files through every open variant; errno values as the
 * kernel gives them. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>

#include "shim_test.h"

int __open_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __open64_2(const char *path, int flags);

int main(void)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	int fd, dev, fds[6];
	int n = 0;

	fd = open("/dev/iommu", O_RDWR);
	CHECK(fd >= 0);
	CHECK(fd_kind(fd, fd) == 1);

	CHECK(ioctl(fd, IOMMU_IOAS_ALLOC, &alloc) == 0);
	CHECK(alloc.out_ioas_id == 1);
	CHECK(ioctl(fd, IOMMU_IOAS_ALLOC, &alloc) == 0);
	CHECK(alloc.out_ioas_id == 2);

	/* a struct shorter than the command's minimum: the server says EINVAL, nothing written */
	alloc.size = 8;
	alloc.out_ioas_id = 77;
	CHECK_ERRNO(ioctl(fd, IOMMU_IOAS_ALLOC, &alloc), EINVAL);
	CHECK(alloc.out_ioas_id == 77);
	alloc.size = sizeof(alloc);
	alloc.flags = 1;
	CHECK_ERRNO(ioctl(fd, IOMMU_IOAS_ALLOC, &alloc), EOPNOTSUPP);

	/* an integer argument goes as it is */
	CHECK(ioctl(fd, VFIO_CHECK_EXTENSION, 41UL) == 42);
	/* the VFS's own requests act on the fd, not on the emulated file */
	int on = 1;
	CHECK(ioctl(fd, FIOCLEX) == 0);
	CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
	CHECK(ioctl(fd, FIONCLEX) == 0);
	CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) == 0);
	CHECK(ioctl(fd, FIONBIO, &on) == 0);
	CHECK((fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
	on = 0;
	CHECK(ioctl(fd, FIONBIO, &on) == 0);
	CHECK((fcntl(fd, F_GETFL) & O_NONBLOCK) == 0);
	/* open flags reach the reserved fd */
	int nb = open("/dev/iommu", O_RDWR | O_NONBLOCK);
	CHECK(nb >= 0);
	CHECK((fcntl(nb, F_GETFL) & O_NONBLOCK) != 0);
	CHECK((fcntl(nb, F_GETFD) & FD_CLOEXEC) == 0);
	CHECK(close(nb) == 0);

	/* unknown request */
	CHECK_ERRNO(ioctl(fd, _IO(';', 0xee), &alloc), ENOTTY);

	dev = open("/dev/vfio/devices/vfio0", O_RDWR | O_CLOEXEC);
	CHECK(dev >= 0);
	CHECK(fd_kind(fd, dev) == 2);
	CHECK((fcntl(dev, F_GETFD) & FD_CLOEXEC) != 0);
	CHECK_ERRNO(open("/dev/vfio/devices/vfio9", O_RDWR), ENOENT);

	/* each variant reaches the emulator */
	fds[n++] = openat(AT_FDCWD, "/dev/iommu", O_RDWR);
	fds[n++] = open64("/dev/iommu", O_RDWR);
	fds[n++] = openat64(AT_FDCWD, "/dev/vfio/devices/vfio1", O_RDWR);
	fds[n++] = __open_2("/dev/iommu", O_RDWR);
	fds[n++] = __openat_2(AT_FDCWD, "/dev/iommu", O_RDWR);
	fds[n++] = __open64_2("/dev/iommu", O_RDWR);
	for (int i = 0; i < n; i++) {
		CHECK(fds[i] >= 0);
		CHECK(fd_kind(fd, fds[i]) >= 1);
		CHECK(close(fds[i]) == 0);
		CHECK(fd_kind(fd, fds[i]) == 0);
	}

	/* an ordinary file still works */
	int other = open("/dev/null", O_RDONLY);
	CHECK(other >= 0);
	CHECK(read(other, &alloc, sizeof(alloc)) == 0);
	CHECK(close(other) == 0);

	CHECK(close(dev) == 0);
	CHECK(fd_kind(fd, dev) == 0);
	CHECK(close(fd) == 0);
	CHECK_ERRNO(ioctl(fd, IOMMU_IOAS_ALLOC, &alloc), EBADF);
	CHECK_ERRNO(close(fd), EBADF);
	return test_result("t_basic");
}
