/* fork while other threads are in the middle of ioctls: the fork handlers never deadlock, the
 * child speaks on its own connection and the parent's threads carry on. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shim_test.h"

#define THREADS 4
#define FORKS 30

static int iommufd;
static atomic_int stop;
static atomic_int bad;

static void *worker(void *p)
{
	uint8_t src[32] = { 1, 2, 3 }, dst[32];

	while (!stop) {
		struct test_memcopy copy = { .size = sizeof(copy), .len = sizeof(src),
					     .src = (uintptr_t)src, .dst = (uintptr_t)dst };
		struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };

		if (ioctl(iommufd, TEST_MEMCOPY, &copy) != (int)sizeof(src) ||
		    ioctl(iommufd, IOMMU_IOAS_ALLOC, &alloc))
			bad++;
	}
	return NULL;
}

int main(void)
{
	pthread_t th[THREADS];

	iommufd = open("/dev/iommu", O_RDWR);
	CHECK(iommufd >= 0);
	for (int t = 0; t < THREADS; t++)
		pthread_create(&th[t], NULL, worker, NULL);
	for (int i = 0; i < FORKS; i++) {
		int status;
		pid_t pid = fork();

		if (pid == 0) {
			struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
			int fd = open("/dev/iommu", O_RDWR);

			if (fd < 0 || ioctl(fd, IOMMU_IOAS_ALLOC, &alloc) || alloc.out_ioas_id != 1 ||
			    close(fd))
				_exit(1);
			_exit(0);
		}
		CHECK(pid > 0);
		CHECK(waitpid(pid, &status, 0) == pid);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	stop = 1;
	for (int t = 0; t < THREADS; t++)
		pthread_join(th[t], NULL);
	CHECK(bad == 0);
	CHECK(close(iommufd) == 0);
	return test_result("t_fork_threads");
}
