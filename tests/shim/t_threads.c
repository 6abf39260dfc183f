/* Threads issuing ioctls at once on one connection: every reply reaches its own caller. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "shim_test.h"

#define THREADS 8
#define ROUNDS 300

static int iommufd;
static uint32_t ids[THREADS][ROUNDS];
static int bad[THREADS];

static void *worker(void *p)
{
	int t = (int)(intptr_t)p;
	uint8_t src[64 + THREADS], dst[64 + THREADS];
	int dev = open("/dev/vfio/devices/vfio2", O_RDWR);

	if (dev < 0)
		bad[t]++;
	for (int r = 0; r < ROUNDS; r++) {
		struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
		struct test_memcopy copy = { .size = sizeof(copy), .len = 16 + t,
					     .src = (uintptr_t)src, .dst = (uintptr_t)dst };

		if (ioctl(iommufd, IOMMU_IOAS_ALLOC, &alloc))
			bad[t]++;
		ids[t][r] = alloc.out_ioas_id;
		memset(src, t * 31 + r, sizeof(src));
		if (ioctl(iommufd, TEST_MEMCOPY, &copy) != (int)copy.len)
			bad[t]++;
		for (uint32_t i = 0; i < copy.len; i++)
			if (dst[i] != MEMCOPY_BYTE(src[i]))
				bad[t]++;
		if (ioctl(dev, VFIO_CHECK_EXTENSION, (unsigned long)(t * 1000 + r)) !=
		    t * 1000 + r + 1)
			bad[t]++;
	}
	if (close(dev))
		bad[t]++;
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	return (int)(*(const uint32_t *)a > *(const uint32_t *)b) -
	       (int)(*(const uint32_t *)a < *(const uint32_t *)b);
}

int main(void)
{
	pthread_t th[THREADS];

	iommufd = open("/dev/iommu", O_RDWR);
	CHECK(iommufd >= 0);
	for (int t = 0; t < THREADS; t++)
		pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t);
	for (int t = 0; t < THREADS; t++) {
		pthread_join(th[t], NULL);
		CHECK(bad[t] == 0);
	}
	qsort(ids, THREADS * ROUNDS, sizeof(uint32_t), cmp);
	for (int i = 0; i < THREADS * ROUNDS; i++)
		CHECK(((uint32_t *)ids)[i] == (uint32_t)i + 1);
	CHECK(close(iommufd) == 0);
	return test_result("t_threads");
}
