/* Shared by the fake server and the test programs: the requests the fake server knows, and a
 * few check helpers. The TEST_* requests are the fake server's own (type ';', nr 0xf0 and up,
 * which the kernel does not use); they exist only to drive the shim's paths. */
#ifndef SHIM_TEST_H
#define SHIM_TEST_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "check.h"

#define IOMMU_IOAS_ALLOC	_IO(';', 0x81)
#define VFIO_CHECK_EXTENSION	_IO(';', 101)
#define TEST_MEMCOPY		_IO(';', 0xf0)
#define TEST_NEW_QUEUE		_IO(';', 0xf1)
#define TEST_TRIGGER		_IO(';', 0xf2)
#define TEST_ASYNC_DMA		_IO(';', 0xf3)
#define TEST_FD_KIND		_IO(';', 0xf4)
#define TEST_DROP		_IO(';', 0xf5)
#define TEST_MEM_CHECK		_IO(';', 0xf6)

/* The server asks the client EXT_MEM_CHECK of [addr, addr+len) (flags 1: for writing) and fails
 * the ioctl with the client's answer. */
struct test_mem_check {
	uint32_t size;
	uint32_t flags;
	uint64_t addr;
	uint64_t len;
};

/* The kernel's struct iommu_ioas_alloc. */
struct iommu_ioas_alloc {
	uint32_t size;
	uint32_t flags;
	uint32_t out_ioas_id;
};

/* The server reads len bytes at src and writes MEMCOPY_BYTE of each at dst. */
struct test_memcopy {
	uint32_t size;
	uint32_t len;
	uint64_t src;
	uint64_t dst;
};
#define MEMCOPY_BYTE(b) ((uint8_t)((b) ^ 0x5a))

/* The server asks the client for a new fd (NEW_FD) standing for an empty event queue. */
struct test_new_queue {
	uint32_t size;
	uint32_t flags;
	int32_t out_fd;
	uint32_t reserved;
};

/* TEST_TRIGGER: after delay_ms, value is queued on fd and FD_READY sent.
 * TEST_ASYNC_DMA: after delay_ms, len bytes of ASYNC_DMA_BYTE(i) are written at addr. */
struct test_later {
	uint32_t size;
	int32_t fd;
	uint32_t delay_ms;
	uint32_t value;
	uint64_t addr;
	uint32_t len;
	uint32_t reserved;
};
#define ASYNC_DMA_BYTE(i) ((uint8_t)((i) * 7 + 3))

/* What the server holds under number fd on this connection: 0 none, 1 iommufd, 2 vfio cdev,
 * 3 queue. */
struct test_fd_kind {
	uint32_t size;
	int32_t fd;
	uint32_t out_kind;
};

static inline int fd_kind(int iommufd, int fd)
{
	struct test_fd_kind cmd = { .size = sizeof(cmd), .fd = fd };

	if (ioctl(iommufd, TEST_FD_KIND, &cmd))
		return -1;
	return (int)cmd.out_kind;
}

#endif
