/* EXT_MEM_CHECK: the shim says whether a range of its memory could be pinned now, from its
 * mappings: every byte mapped, readable, and writable when asked; one answer for any length. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "shim_test.h"

static int check(int fd, void *addr, uint64_t len, uint32_t flags)
{
	struct test_mem_check cmd = { .size = sizeof(cmd), .flags = flags,
				      .addr = (uintptr_t)addr, .len = len };

	return ioctl(fd, TEST_MEM_CHECK, &cmd) == 0 ? 0 : errno;
}

int main(void)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t size = 64 * page;
	uint8_t *buf;
	int fd;

	fd = open("/dev/iommu", O_RDWR);
	CHECK(fd >= 0);

	/* never touched: mapped is enough, as the pin faults pages in */
	buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(buf != MAP_FAILED);
	CHECK(check(fd, buf, size, 0) == 0);
	CHECK(check(fd, buf, size, 1) == 0);
	CHECK(check(fd, buf + 5, 1, 1) == 0);
	CHECK(check(fd, buf, 0, 0) == 0);

	/* a range running past the end of the mapping, or starting before it */
	CHECK(munmap(buf + size - page, page) == 0);
	CHECK(check(fd, buf, size, 0) == EFAULT);
	CHECK(check(fd, buf, size - page, 0) == 0);
	CHECK(check(fd, buf + size - page, page, 0) == EFAULT);

	/* a hole in the middle */
	CHECK(munmap(buf + 10 * page, page) == 0);
	CHECK(check(fd, buf, 20 * page, 0) == EFAULT);
	CHECK(check(fd, buf + 11 * page, 20 * page, 0) == 0);

	/* read-only pages pin for reading only; PROT_NONE pages not at all */
	CHECK(mprotect(buf + 20 * page, page, PROT_READ) == 0);
	CHECK(check(fd, buf + 11 * page, 20 * page, 0) == 0);
	CHECK(check(fd, buf + 11 * page, 20 * page, 1) == EFAULT);
	CHECK(mprotect(buf + 30 * page, page, PROT_NONE) == 0);
	CHECK(check(fd, buf + 21 * page, 20 * page, 0) == EFAULT);
	CHECK(check(fd, buf + 31 * page, 20 * page, 1) == 0);

	/* a range wrapping past the top of the address space */
	CHECK(check(fd, (void *)(uintptr_t)-page, 2 * page, 0) == EFAULT);

	CHECK(munmap(buf, size) == 0);
	CHECK(check(fd, buf, page, 0) == EFAULT);
	CHECK(close(fd) == 0);
	return test_result("t_mem_check");
}
