/* An in-kernel user of an IOAS as the kernel's selftest models it (IOMMU_TEST_OP_CREATE_ACCESS
 * and the ops on the access fd it returns): pin pages and check they are the program's own, read
 * and write through IOVAs, see an unmap take the pins away, move the access to another IOAS, and
 * close it. Checked as a program against the kernel's /dev/iommu would check it. */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "abi.h"
#include "../shim/check.h"

#define PAGE 4096u
#define IOVA 0x100000ull
#define RO_IOVA 0x200000ull

static int iommufd;

static uint32_t ioas_alloc(void)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };

	CHECK_OK(ioctl(iommufd, IOMMU_IOAS_ALLOC, &cmd));
	return cmd.out_ioas_id;
}

static int map(uint32_t ioas, void *buf, uint64_t length, uint64_t iova, uint32_t prot)
{
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd), .flags = IOMMU_IOAS_MAP_FIXED_IOVA | prot, .ioas_id = ioas,
		.user_va = (uintptr_t)buf, .length = length, .iova = iova,
	};

	return ioctl(iommufd, IOMMU_IOAS_MAP, &cmd);
}

static int destroy(uint32_t id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

	return ioctl(iommufd, IOMMU_DESTROY, &cmd);
}

static int create_access(uint32_t ioas, uint32_t flags, int *access_fd)
{
	struct iommu_test_cmd cmd = { .size = sizeof(cmd), .op = IOMMU_TEST_OP_CREATE_ACCESS, .id = ioas };
	int rc;

	cmd.create_access.flags = flags;
	rc = ioctl(iommufd, IOMMU_TEST_CMD, &cmd);
	if (!rc)
		*access_fd = (int)cmd.create_access.out_access_fd;
	return rc;
}

static int access_pages(int access_fd, uint64_t iova, uint64_t length, void *uptr, uint32_t flags, uint32_t *id)
{
	struct iommu_test_cmd cmd = { .size = sizeof(cmd), .op = IOMMU_TEST_OP_ACCESS_PAGES, .id = (uint32_t)access_fd };
	int rc;

	cmd.access_pages.flags = flags;
	cmd.access_pages.iova = iova;
	cmd.access_pages.length = length;
	cmd.access_pages.uptr = (uintptr_t)uptr;
	rc = ioctl(iommufd, IOMMU_TEST_CMD, &cmd);
	if (!rc && id)
		*id = cmd.access_pages.out_access_pages_id;
	return rc;
}

static int destroy_pages(int access_fd, uint32_t id)
{
	struct iommu_test_cmd cmd = { .size = sizeof(cmd), .op = IOMMU_TEST_OP_DESTROY_ACCESS_PAGES, .id = (uint32_t)access_fd };

	cmd.destroy_access_pages.access_pages_id = id;
	return ioctl(iommufd, IOMMU_TEST_CMD, &cmd);
}

static int access_rw(int access_fd, uint64_t iova, void *data, uint64_t length, uint32_t flags)
{
	struct iommu_test_cmd cmd = { .size = sizeof(cmd), .op = IOMMU_TEST_OP_ACCESS_RW, .id = (uint32_t)access_fd };

	cmd.access_rw.iova = iova;
	cmd.access_rw.length = length;
	cmd.access_rw.uptr = (uintptr_t)data;
	cmd.access_rw.flags = flags;
	return ioctl(iommufd, IOMMU_TEST_CMD, &cmd);
}

static int replace_ioas(int access_fd, uint32_t ioas)
{
	struct iommu_test_cmd cmd = { .size = sizeof(cmd), .op = IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, .id = (uint32_t)access_fd };

	cmd.access_replace_ioas.ioas_id = ioas;
	return ioctl(iommufd, IOMMU_TEST_CMD, &cmd);
}

static int memory_limit(uint32_t limit)
{
	struct iommu_test_cmd cmd = { .size = sizeof(cmd), .op = IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT };

	cmd.memory_limit.limit = limit;
	return ioctl(iommufd, IOMMU_TEST_CMD, &cmd);
}

int main(void)
{
	iommufd = open("/dev/iommu", O_RDWR);
	CHECK(iommufd > 2);
	uint8_t *buf = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(buf != MAP_FAILED);
	memset(buf, 0, 8 * PAGE);

	uint32_t ioas = ioas_alloc();
	CHECK_OK(map(ioas, buf, 4 * PAGE, IOVA, IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE));
	CHECK_OK(map(ioas, buf + 4 * PAGE, PAGE, RO_IOVA, IOMMU_IOAS_MAP_READABLE));

	int access = -1, plain = -1;
	CHECK_ERRNO(create_access(ioas, 2, &access), EOPNOTSUPP);
	CHECK_ERRNO(create_access(ioas + 100, 0, &access), ENOENT);
	CHECK_OK(create_access(ioas, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES, &access));
	CHECK(access > 2 && access != iommufd);
	CHECK_OK(create_access(ioas, 0, &plain));
	CHECK(plain > 2 && plain != access);

	/* An access holds its IOAS, and its object belongs to the driver, not to IOMMU_DESTROY. */
	CHECK_ERRNO(destroy(ioas), EBUSY);

	/* Pins: the items are numbered from 0, the pages must be the program's own at uptr. */
	uint32_t first = 99, second = 99;
	CHECK_OK(access_pages(access, IOVA, 2 * PAGE, buf, 0, &first));
	CHECK(first == 0);
	CHECK_OK(access_pages(access, IOVA + 2 * PAGE, PAGE, buf + 2 * PAGE, MOCK_FLAGS_ACCESS_WRITE, &second));
	CHECK(second == 1);
	CHECK_ERRNO(access_pages(access, IOVA, PAGE, buf + PAGE, 0, NULL), EBADE);
	CHECK_ERRNO(access_pages(access, RO_IOVA, PAGE, buf + 4 * PAGE, MOCK_FLAGS_ACCESS_WRITE, NULL), EPERM);
	CHECK_ERRNO(access_pages(access, IOVA, 8 * PAGE, NULL, 0, NULL), ENOENT);
	CHECK_ERRNO(access_pages(plain, IOVA, PAGE, buf, 0, NULL), EOPNOTSUPP);
	CHECK_ERRNO(access_pages(iommufd, IOVA, PAGE, buf, 0, NULL), EBADFD);

	/* Reads and writes through IOVAs land in the memory mapped there, across a page boundary. */
	char hello[] = "hello through an access";
	char back[sizeof(hello)] = { 0 };
	CHECK_OK(access_rw(plain, IOVA + PAGE - 8, hello, sizeof(hello), MOCK_ACCESS_RW_WRITE));
	CHECK(memcmp(buf + PAGE - 8, hello, sizeof(hello)) == 0);
	CHECK_OK(access_rw(access, IOVA + PAGE - 8, back, sizeof(back), MOCK_ACCESS_RW_SLOW_PATH));
	CHECK(memcmp(back, hello, sizeof(hello)) == 0);
	CHECK_ERRNO(access_rw(plain, RO_IOVA, hello, 4, MOCK_ACCESS_RW_WRITE), EPERM);
	CHECK_ERRNO(access_rw(plain, IOVA, hello, 0, 0), EINVAL);
	CHECK_ERRNO(access_rw(plain, IOVA, hello, 4, 2), EOPNOTSUPP);

	/* Unmapping pinned pages asks the access to let go: the items in the range go with them. */
	struct iommu_ioas_unmap unmap = { .size = sizeof(unmap), .ioas_id = ioas, .iova = IOVA, .length = 4 * PAGE };
	CHECK_OK(ioctl(iommufd, IOMMU_IOAS_UNMAP, &unmap));
	CHECK(unmap.length == 4 * PAGE);
	CHECK_ERRNO(destroy_pages(access, first), ENOENT);
	CHECK_ERRNO(destroy_pages(access, second), ENOENT);

	/* A pin destroyed by the program, then the access moved to another IOAS. */
	CHECK_OK(map(ioas, buf, 4 * PAGE, IOVA, IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE));
	uint32_t third = 99;
	CHECK_OK(access_pages(access, IOVA, PAGE, buf, 0, &third));
	CHECK(third == 2);
	CHECK_OK(destroy_pages(access, third));
	CHECK_ERRNO(destroy_pages(access, third), ENOENT);

	uint32_t other = ioas_alloc();
	CHECK_OK(map(other, buf + 4 * PAGE, 4 * PAGE, IOVA, IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE));
	CHECK_OK(access_pages(access, IOVA, PAGE, buf, 0, &third));
	CHECK_OK(replace_ioas(access, other));
	CHECK_ERRNO(destroy_pages(access, third), ENOENT);
	CHECK_OK(access_pages(access, IOVA, PAGE, buf + 4 * PAGE, 0, NULL));
	CHECK_ERRNO(replace_ioas(access, other + 100), ENOENT);
	CHECK_ERRNO(destroy(other), EBUSY);

	CHECK_ERRNO(memory_limit(11), EINVAL);
	CHECK_OK(memory_limit(65536));

	/* Closing the access fds destroys the accesses: both IOASes can go. */
	CHECK_OK(close(plain));
	CHECK_OK(destroy(ioas));
	CHECK_OK(close(access));
	CHECK_OK(destroy(other));

	/* An iommufd closed while an access on it is open and pinning: the access goes with it, and
	 * closing its fd afterwards still succeeds. */
	CHECK_OK(close(iommufd));
	iommufd = open("/dev/iommu", O_RDWR);
	CHECK(iommufd > 2);
	uint32_t last = ioas_alloc();
	CHECK_OK(map(last, buf, PAGE, IOVA, IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE));
	CHECK_OK(create_access(last, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES, &access));
	CHECK_OK(access_pages(access, IOVA, PAGE, buf, 0, NULL));
	CHECK_OK(close(iommufd));
	CHECK_OK(close(access));
	munmap(buf, 8 * PAGE);
	return test_result("t_access");
}
