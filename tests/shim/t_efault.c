/* Bad pointers give EFAULT, never a signal: the ioctl argument itself, pointer fields the
 * server follows, the writeback, and read/write buffers. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shim_test.h"

int main(void)
{
	long page = sysconf(_SC_PAGESIZE);
	struct iommu_ioas_alloc *ro;
	uint8_t src[300], dst[300];
	struct test_memcopy copy = { .size = sizeof(copy), .len = sizeof(src) };
	void *gone;
	int fd;

	fd = open("/dev/iommu", O_RDWR);
	CHECK(fd >= 0);

	CHECK_ERRNO(ioctl(fd, IOMMU_IOAS_ALLOC, NULL), EFAULT);
	gone = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(gone != MAP_FAILED);
	munmap(gone, page);
	CHECK_ERRNO(ioctl(fd, IOMMU_IOAS_ALLOC, gone), EFAULT);
	CHECK_ERRNO(ioctl(fd, IOMMU_IOAS_ALLOC, (void *)8), EFAULT);

	/* from here on a PROT_NONE page stands for a bad address that mmap cannot hand out again */
	gone = mmap(NULL, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(gone != MAP_FAILED);
	CHECK_ERRNO(ioctl(fd, IOMMU_IOAS_ALLOC, gone), EFAULT);

	/* a struct whose size runs off the end of the mapping into a page that is not there */
	ro = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(ro != MAP_FAILED);
	CHECK(mprotect((char *)ro + page, page, PROT_NONE) == 0);
	uint32_t *last = (uint32_t *)((char *)ro + page - 4);
	*last = 64;
	CHECK_ERRNO(ioctl(fd, IOMMU_IOAS_ALLOC, last), EFAULT);

	/* readable but not writable: the writeback fails */
	ro->size = sizeof(*ro);
	ro->flags = 0;
	ro->out_ioas_id = 0;
	CHECK(mprotect(ro, page, PROT_READ) == 0);
	CHECK_ERRNO(ioctl(fd, IOMMU_IOAS_ALLOC, ro), EFAULT);
	CHECK(ro->out_ioas_id == 0);

	/* pointer fields: the server reads src and writes dst through MEM_READ/MEM_WRITE */
	for (unsigned int i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 13);
	memset(dst, 0, sizeof(dst));
	copy.src = (uintptr_t)src;
	copy.dst = (uintptr_t)dst;
	CHECK(ioctl(fd, TEST_MEMCOPY, &copy) == (int)sizeof(src));
	int same = 1;
	for (unsigned int i = 0; i < sizeof(src); i++)
		same &= dst[i] == MEMCOPY_BYTE(src[i]);
	CHECK(same);

	copy.src = (uintptr_t)gone;
	CHECK_ERRNO(ioctl(fd, TEST_MEMCOPY, &copy), EFAULT);
	copy.src = (uintptr_t)src;
	copy.dst = (uintptr_t)ro;	/* read-only now */
	CHECK_ERRNO(ioctl(fd, TEST_MEMCOPY, &copy), EFAULT);
	copy.dst = 0;
	CHECK_ERRNO(ioctl(fd, TEST_MEMCOPY, &copy), EFAULT);

	/* read and write buffers of a queue */
	struct test_new_queue nq = { .size = sizeof(nq) };
	CHECK(ioctl(fd, TEST_NEW_QUEUE, &nq) >= 0);
	CHECK_ERRNO(write(nq.out_fd, gone, 8), EFAULT);
	struct test_later trig = { .size = sizeof(trig), .fd = nq.out_fd, .value = 5 };
	CHECK(ioctl(fd, TEST_TRIGGER, &trig) == 0);
	uint32_t v;
	CHECK_ERRNO(read(nq.out_fd, ro, sizeof(v)), EFAULT);
	CHECK(close(nq.out_fd) == 0);

	munmap(ro, 2 * page);
	munmap(gone, page);
	CHECK(close(fd) == 0);
	return test_result("t_efault");
}
