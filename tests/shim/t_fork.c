/* A forked child gets its own connection: its own opens work, the fds it inherited keep their
 * numbers but their calls fail with EBADF (the emulated file stays the parent's), and its
 * close of them leaves the parent's file alone. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shim_test.h"

int main(void)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	int fd, status;
	pid_t pid;

	fd = open("/dev/iommu", O_RDWR);
	CHECK(fd >= 0);
	CHECK(ioctl(fd, IOMMU_IOAS_ALLOC, &alloc) == 0);
	CHECK(alloc.out_ioas_id == 1);

	pid = fork();
	if (pid == 0) {
		int own;

		CHECK_ERRNO(ioctl(fd, IOMMU_IOAS_ALLOC, &alloc), EBADF);
		CHECK_ERRNO(read(fd, &alloc, sizeof(alloc)), EBADF);
		CHECK(fcntl(fd, F_GETFD) >= 0);	/* the number is still taken */
		own = open("/dev/iommu", O_RDWR);
		CHECK(own >= 0 && own != fd);
		/* a new connection: the fake server counts IOAS ids per connection */
		CHECK(ioctl(own, IOMMU_IOAS_ALLOC, &alloc) == 0);
		CHECK(alloc.out_ioas_id == 1);
		CHECK(fd_kind(own, fd) == 0);
		CHECK(close(fd) == 0);
		CHECK(close(own) == 0);
		_exit(test_result("t_fork child"));
	}
	CHECK(pid > 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* the parent's file is untouched by the child's close */
	CHECK(fd_kind(fd, fd) == 1);
	CHECK(ioctl(fd, IOMMU_IOAS_ALLOC, &alloc) == 0);
	CHECK(alloc.out_ioas_id == 2);
	CHECK(close(fd) == 0);
	return test_result("t_fork");
}
