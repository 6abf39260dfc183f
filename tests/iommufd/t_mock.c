/* The kernel selftest's mock domains (IOMMU_TEST_OP_MOCK_DOMAIN and the ops around it): a mock
 * device attached to an IOAS, mappings checked in its domain and pages counted as pinned, unmap,
 * dirty bits set in a tracking domain and read back with IOMMU_HWPT_GET_DIRTY_BITMAP, a PASID
 * attached, and everything destroyed, with the pins gone once the iommufd is closed. Checked as a
 * program against the kernel's /dev/iommu would check it. */
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "abi.h"
#include "../shim/check.h"

#define PAGE 4096u
#define LENGTH (4 * PAGE)
#define IOVA MOCK_APERTURE_START

static int iommufd;

static uint32_t ioas_alloc(void)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };

	CHECK_OK(ioctl(iommufd, IOMMU_IOAS_ALLOC, &cmd));
	return cmd.out_ioas_id;
}

static int map(uint32_t ioas, void *buf, uint64_t length, uint64_t iova)
{
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd), .ioas_id = ioas, .user_va = (uintptr_t)buf, .length = length, .iova = iova,
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
	};

	return ioctl(iommufd, IOMMU_IOAS_MAP, &cmd);
}

static int unmap(uint32_t ioas, uint64_t iova, uint64_t length)
{
	struct iommu_ioas_unmap cmd = { .size = sizeof(cmd), .ioas_id = ioas, .iova = iova, .length = length };

	return ioctl(iommufd, IOMMU_IOAS_UNMAP, &cmd);
}

static int destroy(uint32_t id)
{
	struct iommu_destroy cmd = { .size = sizeof(cmd), .id = id };

	return ioctl(iommufd, IOMMU_DESTROY, &cmd);
}

static int mock_domain(uint32_t pt_id, int with_flags, uint32_t dev_flags, uint32_t *stdev, uint32_t *hwpt, uint32_t *idev)
{
	struct iommu_test_cmd cmd = {
		.size = sizeof(cmd), .id = pt_id,
		.op = with_flags ? IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS : IOMMU_TEST_OP_MOCK_DOMAIN,
	};
	int rc;

	cmd.mock_domain.dev_flags = dev_flags;
	rc = ioctl(iommufd, IOMMU_TEST_CMD, &cmd);
	if (!rc) {
		*stdev = cmd.mock_domain.out_stdev_id;
		*hwpt = cmd.mock_domain.out_hwpt_id;
		*idev = cmd.mock_domain.out_idev_id;
	}
	return rc;
}

static int replace(uint32_t stdev, uint32_t pt_id, uint32_t *now)
{
	struct iommu_test_cmd cmd = { .size = sizeof(cmd), .op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, .id = stdev };
	int rc;

	cmd.mock_domain_replace.pt_id = pt_id;
	rc = ioctl(iommufd, IOMMU_TEST_CMD, &cmd);
	if (!rc && now)
		*now = cmd.mock_domain_replace.pt_id;
	return rc;
}

static int check_map(uint32_t hwpt, uint64_t iova, uint64_t length, void *uptr)
{
	struct iommu_test_cmd cmd = { .size = sizeof(cmd), .op = IOMMU_TEST_OP_MD_CHECK_MAP, .id = hwpt };

	cmd.check_map.iova = iova;
	cmd.check_map.length = length;
	cmd.check_map.uptr = (uintptr_t)uptr;
	return ioctl(iommufd, IOMMU_TEST_CMD, &cmd);
}

static int check_refs_on(int fd, void *uptr, uint64_t length, uint32_t refs)
{
	struct iommu_test_cmd cmd = { .size = sizeof(cmd), .op = IOMMU_TEST_OP_MD_CHECK_REFS };

	cmd.check_refs.uptr = (uintptr_t)uptr;
	cmd.check_refs.length = length;
	cmd.check_refs.refs = refs;
	return ioctl(fd, IOMMU_TEST_CMD, &cmd);
}

static int check_refs(void *uptr, uint64_t length, uint32_t refs)
{
	return check_refs_on(iommufd, uptr, length, refs);
}

static int hwpt_alloc(uint32_t idev, uint32_t pt_id, uint32_t flags, uint32_t *hwpt)
{
	struct iommu_hwpt_alloc cmd = { .size = sizeof(cmd), .flags = flags, .dev_id = idev, .pt_id = pt_id };
	int rc = ioctl(iommufd, IOMMU_HWPT_ALLOC, &cmd);

	if (!rc)
		*hwpt = cmd.out_hwpt_id;
	return rc;
}

static int set_dirty(uint32_t hwpt, uint64_t iova, uint64_t length, uint64_t page_size, uint64_t *bitmap, uint64_t *nr)
{
	struct iommu_test_cmd cmd = { .size = sizeof(cmd), .op = IOMMU_TEST_OP_DIRTY, .id = hwpt };
	int rc;

	cmd.dirty.iova = iova;
	cmd.dirty.length = length;
	cmd.dirty.page_size = page_size;
	cmd.dirty.uptr = (uintptr_t)bitmap;
	rc = ioctl(iommufd, IOMMU_TEST_CMD, &cmd);
	if (!rc && nr)
		*nr = cmd.dirty.out_nr_dirty;
	return rc;
}

static int dirty_tracking(uint32_t hwpt, int enable)
{
	struct iommu_hwpt_set_dirty_tracking cmd = {
		.size = sizeof(cmd), .hwpt_id = hwpt, .flags = enable ? IOMMU_HWPT_DIRTY_TRACKING_ENABLE : 0,
	};

	return ioctl(iommufd, IOMMU_HWPT_SET_DIRTY_TRACKING, &cmd);
}

static int dirty_bitmap(uint32_t hwpt, uint64_t iova, uint64_t length, uint64_t *bitmap)
{
	struct iommu_hwpt_get_dirty_bitmap cmd = {
		.size = sizeof(cmd), .hwpt_id = hwpt, .iova = iova, .length = length, .page_size = PAGE,
		.data = (uintptr_t)bitmap,
	};

	return ioctl(iommufd, IOMMU_HWPT_GET_DIRTY_BITMAP, &cmd);
}

static int dev_check_cache(uint32_t idev, uint32_t id, uint32_t value)
{
	struct iommu_test_cmd cmd = { .size = sizeof(cmd), .op = IOMMU_TEST_OP_DEV_CHECK_CACHE, .id = idev };

	cmd.check_dev_cache.id = id;
	cmd.check_dev_cache.cache = value;
	return ioctl(iommufd, IOMMU_TEST_CMD, &cmd);
}

static int pasid_op(uint32_t op, uint32_t stdev, uint32_t pasid, uint32_t pt_id)
{
	struct iommu_test_cmd cmd = { .size = sizeof(cmd), .op = op, .id = stdev };

	cmd.pasid_attach.pasid = pasid;
	cmd.pasid_attach.pt_id = pt_id;
	return ioctl(iommufd, IOMMU_TEST_CMD, &cmd);
}

int main(void)
{
	iommufd = open("/dev/iommu", O_RDWR);
	CHECK(iommufd > 2);
	uint8_t *buf = mmap(NULL, LENGTH, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	CHECK(buf != MAP_FAILED);
	memset(buf, 0x5a, LENGTH);

	/* The selftest object, then its device, then the automatic domain. */
	uint32_t ioas = ioas_alloc();
	uint32_t stdev = 0, hwpt = 0, idev = 0;
	CHECK_OK(mock_domain(ioas, 0, 0, &stdev, &hwpt, &idev));
	CHECK(stdev == ioas + 1 && idev == ioas + 2 && hwpt == ioas + 3);
	CHECK_ERRNO(mock_domain(ioas + 100, 0, 0, &stdev, &hwpt, &idev), ENOENT);
	CHECK_ERRNO(mock_domain(ioas, 1, 1u << 3, &stdev, &hwpt, &idev), EINVAL);
	CHECK_OK(dev_check_cache(idev, 0, IOMMU_TEST_DEV_CACHE_DEFAULT));
	CHECK_ERRNO(dev_check_cache(idev, 4, IOMMU_TEST_DEV_CACHE_DEFAULT), EINVAL);

	/* Nothing is pinned until a mapping meets a domain; the domain maps the program's own pages. */
	CHECK_OK(check_refs(buf, LENGTH, 0));
	CHECK_OK(map(ioas, buf, LENGTH, IOVA));
	CHECK_OK(check_map(hwpt, IOVA, LENGTH, buf));
	CHECK_OK(check_map(hwpt, IOVA + PAGE / 2, PAGE, buf + PAGE / 2));
	CHECK_ERRNO(check_map(hwpt, IOVA, LENGTH, buf + PAGE), EINVAL);
	CHECK_ERRNO(check_map(hwpt, IOVA + 1, PAGE, buf), EINVAL);
	CHECK_ERRNO(check_map(ioas, IOVA, PAGE, buf), ENOENT);
	CHECK_OK(check_refs(buf, LENGTH, 1));
	CHECK_ERRNO(check_refs(buf, LENGTH, 2), EIO);
	CHECK_ERRNO(check_refs(buf + 1, PAGE, 1), EINVAL);

	/* Memory the program no longer has cannot be looked at. */
	void *gone = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(gone != MAP_FAILED);
	CHECK_OK(munmap(gone, PAGE));
	CHECK_ERRNO(check_refs(gone, PAGE, 0), EFAULT);

	CHECK_OK(unmap(ioas, IOVA, LENGTH));
	CHECK_OK(check_refs(buf, LENGTH, 0));
	CHECK_ERRNO(check_map(hwpt, IOVA, PAGE, buf), EINVAL);

	/* A dirty-tracking domain takes the device's place; the automatic one goes with its last device. */
	uint32_t tracking = 0, now = 0;
	CHECK_OK(hwpt_alloc(idev, ioas, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, &tracking));
	CHECK_OK(replace(stdev, tracking, &now));
	CHECK(now == tracking);
	CHECK_ERRNO(destroy(hwpt), ENOENT);
	CHECK_OK(map(ioas, buf, LENGTH, IOVA));
	CHECK_OK(check_map(tracking, IOVA, LENGTH, buf));

	uint64_t bitmap[1] = { 0x5 }, nr = 99;
	CHECK_ERRNO(set_dirty(tracking, IOVA, LENGTH, PAGE, bitmap, &nr), EINVAL);
	CHECK_OK(dirty_tracking(tracking, 1));
	CHECK_OK(set_dirty(tracking, IOVA, LENGTH, PAGE, bitmap, &nr));
	CHECK(nr == 2);
	bitmap[0] = 0;
	CHECK_OK(dirty_bitmap(tracking, IOVA, LENGTH, bitmap));
	CHECK(bitmap[0] == 0x5);
	bitmap[0] = 0;
	CHECK_OK(dirty_bitmap(tracking, IOVA, LENGTH, bitmap));
	CHECK(bitmap[0] == 0);
	CHECK_ERRNO(set_dirty(tracking, IOVA, LENGTH, 0, bitmap, &nr), EINVAL);

	/* A device that cannot track dirty pages refuses a tracking domain. */
	uint32_t nd_stdev, nd_hwpt, nd_idev;
	CHECK_ERRNO(mock_domain(tracking, 1, MOCK_FLAGS_DEVICE_NO_DIRTY, &nd_stdev, &nd_hwpt, &nd_idev), EINVAL);
	CHECK_OK(mock_domain(ioas, 1, MOCK_FLAGS_DEVICE_NO_DIRTY, &nd_stdev, &nd_hwpt, &nd_idev));
	CHECK_ERRNO(hwpt_alloc(nd_idev, ioas, IOMMU_HWPT_ALLOC_DIRTY_TRACKING, &now), EOPNOTSUPP);
	CHECK_OK(destroy(nd_stdev));

	/* A PASID device: PASIDs go on a PASID-capable domain, and are checked, replaced and detached. */
	uint32_t p_stdev, p_hwpt, p_idev, p_domain = 0, p_other = 0;
	CHECK_OK(mock_domain(ioas, 1, MOCK_FLAGS_DEVICE_PASID, &p_stdev, &p_hwpt, &p_idev));
	CHECK_OK(hwpt_alloc(p_idev, ioas, IOMMU_HWPT_ALLOC_PASID, &p_domain));
	CHECK_OK(hwpt_alloc(p_idev, ioas, IOMMU_HWPT_ALLOC_PASID, &p_other));
	CHECK_OK(replace(p_stdev, p_domain, NULL));
	CHECK_ERRNO(pasid_op(IOMMU_TEST_OP_PASID_REPLACE, p_stdev, 100, p_domain), EINVAL);
	CHECK_OK(pasid_op(IOMMU_TEST_OP_PASID_ATTACH, p_stdev, 100, p_domain));
	CHECK_ERRNO(pasid_op(IOMMU_TEST_OP_PASID_ATTACH, p_stdev, 100, p_other), EBUSY);
	CHECK_OK(pasid_op(IOMMU_TEST_OP_PASID_CHECK_HWPT, p_stdev, 100, p_domain));
	CHECK_OK(pasid_op(IOMMU_TEST_OP_PASID_REPLACE, p_stdev, 100, p_other));
	CHECK_ERRNO(pasid_op(IOMMU_TEST_OP_PASID_CHECK_HWPT, p_stdev, 100, p_domain), EINVAL);
	CHECK_OK(pasid_op(IOMMU_TEST_OP_PASID_DETACH, p_stdev, 100, 0));
	CHECK_OK(pasid_op(IOMMU_TEST_OP_PASID_CHECK_HWPT, p_stdev, 100, 0));
	CHECK_ERRNO(pasid_op(IOMMU_TEST_OP_PASID_ATTACH, stdev, 100, p_domain), EINVAL);

	/* The driver holds the device; destroying the selftest object lets go of everything. */
	CHECK_ERRNO(destroy(idev), EBUSY);
	CHECK_ERRNO(destroy(tracking), EBUSY);
	CHECK_OK(destroy(stdev));
	CHECK_ERRNO(destroy(idev), ENOENT);
	CHECK_OK(destroy(tracking));
	CHECK_ERRNO(destroy(ioas), EBUSY);
	CHECK_OK(destroy(p_stdev));
	CHECK_OK(destroy(p_domain));
	CHECK_OK(destroy(p_other));
	CHECK_OK(check_refs(buf, LENGTH, 0));
	CHECK_OK(map(ioas, buf + PAGE, PAGE, IOVA + LENGTH));
	CHECK_OK(mock_domain(ioas, 0, 0, &stdev, &hwpt, &idev));
	CHECK_OK(check_refs(buf + PAGE, PAGE, 2));

	/* Closing the iommufd releases every pin, as the selftest's teardown checks on a new one. */
	CHECK_OK(close(iommufd));
	int fresh = open("/dev/iommu", O_RDWR);
	CHECK(fresh > 2);
	CHECK_OK(check_refs_on(fresh, buf, LENGTH, 0));
	CHECK_OK(close(fresh));
	return test_result("t_mock");
}
