/* The iommufd, VFIO cdev and selftest uAPI as the emulator's C tests use it: the kernel's ioctl
 * numbers and struct layouts (facts of include/uapi/linux/iommufd.h, vfio.h and the selftest's
 * iommufd_test.h), declared here in our own words so the tests build on any distribution's headers. */
#ifndef IOMMUFD_TEST_ABI_H
#define IOMMUFD_TEST_ABI_H

#include <stdint.h>
#include <sys/ioctl.h>

#define IOMMUFD_TYPE ';'
#define IOMMUFD_IO(nr) _IO(IOMMUFD_TYPE, 0x80 + (nr))

#define IOMMU_DESTROY			IOMMUFD_IO(0)
#define IOMMU_IOAS_ALLOC		IOMMUFD_IO(1)
#define IOMMU_IOAS_ALLOW_IOVAS		IOMMUFD_IO(2)
#define IOMMU_IOAS_COPY			IOMMUFD_IO(3)
#define IOMMU_IOAS_IOVA_RANGES		IOMMUFD_IO(4)
#define IOMMU_IOAS_MAP			IOMMUFD_IO(5)
#define IOMMU_IOAS_UNMAP		IOMMUFD_IO(6)
#define IOMMU_OPTION			IOMMUFD_IO(7)
#define IOMMU_VFIO_IOAS			IOMMUFD_IO(8)
#define IOMMU_HWPT_ALLOC		IOMMUFD_IO(9)
#define IOMMU_GET_HW_INFO		IOMMUFD_IO(10)
#define IOMMU_HWPT_SET_DIRTY_TRACKING	IOMMUFD_IO(11)
#define IOMMU_HWPT_GET_DIRTY_BITMAP	IOMMUFD_IO(12)
#define IOMMU_HWPT_INVALIDATE		IOMMUFD_IO(13)
#define IOMMU_FAULT_QUEUE_ALLOC		IOMMUFD_IO(14)
#define IOMMU_TEST_CMD			IOMMUFD_IO(32)

#define VFIO_IO(nr) _IO(';', 100 + (nr))
#define VFIO_GET_API_VERSION		VFIO_IO(0)
#define VFIO_CHECK_EXTENSION		VFIO_IO(1)
#define VFIO_SET_IOMMU			VFIO_IO(2)
#define VFIO_DEVICE_GET_INFO		VFIO_IO(7)
#define VFIO_IOMMU_GET_INFO		VFIO_IO(12)
#define VFIO_IOMMU_MAP_DMA		VFIO_IO(13)
#define VFIO_IOMMU_UNMAP_DMA		VFIO_IO(14)
#define VFIO_DEVICE_BIND_IOMMUFD	VFIO_IO(18)
#define VFIO_DEVICE_ATTACH_IOMMUFD_PT	VFIO_IO(19)
#define VFIO_DEVICE_DETACH_IOMMUFD_PT	VFIO_IO(20)

#define VFIO_TYPE1v2_IOMMU 3

struct iommu_destroy { uint32_t size, id; };

struct iommu_ioas_alloc { uint32_t size, flags, out_ioas_id; };

struct iommu_iova_range { uint64_t start, last; };

struct iommu_ioas_iova_ranges {
	uint32_t size, ioas_id, num_iovas, reserved;
	uint64_t allowed_iovas, out_iova_alignment;
};

struct iommu_ioas_allow_iovas {
	uint32_t size, ioas_id, num_iovas, reserved;
	uint64_t allowed_iovas;
};

#define IOMMU_IOAS_MAP_FIXED_IOVA	(1u << 0)
#define IOMMU_IOAS_MAP_WRITEABLE	(1u << 1)
#define IOMMU_IOAS_MAP_READABLE		(1u << 2)

struct iommu_ioas_map {
	uint32_t size, flags, ioas_id, reserved;
	uint64_t user_va, length, iova;
};

struct iommu_ioas_copy {
	uint32_t size, flags, dst_ioas_id, src_ioas_id;
	uint64_t length, dst_iova, src_iova;
};

struct iommu_ioas_unmap {
	uint32_t size, ioas_id;
	uint64_t iova, length;
};

#define IOMMU_HWPT_ALLOC_NEST_PARENT	(1u << 0)
#define IOMMU_HWPT_ALLOC_DIRTY_TRACKING	(1u << 1)
#define IOMMU_HWPT_FAULT_ID_VALID	(1u << 2)
#define IOMMU_HWPT_ALLOC_PASID		(1u << 3)

struct iommu_hwpt_alloc {
	uint32_t size, flags, dev_id, pt_id, out_hwpt_id, reserved, data_type, data_len;
	uint64_t data_uptr;
	uint32_t fault_id, reserved2;
};

#define IOMMU_HW_INFO_TYPE_INTEL_VTD	1
#define IOMMU_HW_CAP_DIRTY_TRACKING	(1ull << 0)

struct iommu_hw_info {
	uint32_t size, flags, dev_id, data_len;
	uint64_t data_uptr;
	uint32_t out_data_type;
	uint8_t out_max_pasid_log2, reserved[3];
	uint64_t out_capabilities;
};

#define IOMMU_HWPT_DIRTY_TRACKING_ENABLE (1u << 0)

struct iommu_hwpt_set_dirty_tracking { uint32_t size, flags, hwpt_id, reserved; };

#define IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR (1u << 0)

struct iommu_hwpt_get_dirty_bitmap {
	uint32_t size, hwpt_id, flags, reserved;
	uint64_t iova, length, page_size, data;
};

struct iommu_fault_alloc { uint32_t size, flags, out_fault_id, out_fault_fd; };

#define IOMMU_PGFAULT_FLAGS_PASID_VALID	(1u << 0)
#define IOMMU_PGFAULT_FLAGS_LAST_PAGE	(1u << 1)
#define IOMMU_PGFAULT_PERM_READ		(1u << 0)
#define IOMMU_PGFAULT_PERM_WRITE	(1u << 1)

struct iommu_hwpt_pgfault {
	uint32_t flags, dev_id, pasid, grpid, perm, reserved;
	uint64_t addr;
	uint32_t length, cookie;
};

#define IOMMUFD_PAGE_RESP_SUCCESS 0
#define IOMMUFD_PAGE_RESP_INVALID 1

struct iommu_hwpt_page_response { uint32_t cookie, code; };

struct vfio_device_bind_iommufd {
	uint32_t argsz, flags;
	int32_t iommufd;
	uint32_t out_devid;
};

#define VFIO_DEVICE_ATTACH_PASID (1u << 0)

struct vfio_device_attach_iommufd_pt { uint32_t argsz, flags, pt_id, pasid; };

#define VFIO_DEVICE_DETACH_PASID (1u << 0)

struct vfio_device_detach_iommufd_pt { uint32_t argsz, flags, pasid; };

struct vfio_device_info { uint32_t argsz, flags, num_regions, num_irqs, cap_offset, pad; };

/* The selftest's IOMMU_TEST_CMD (iommufd_test.h): a header, a union by op, and last. */
enum {
	IOMMU_TEST_OP_ADD_RESERVED = 1,
	IOMMU_TEST_OP_MOCK_DOMAIN,
	IOMMU_TEST_OP_MD_CHECK_MAP,
	IOMMU_TEST_OP_MD_CHECK_REFS,
	IOMMU_TEST_OP_CREATE_ACCESS,
	IOMMU_TEST_OP_DESTROY_ACCESS_PAGES,
	IOMMU_TEST_OP_ACCESS_PAGES,
	IOMMU_TEST_OP_ACCESS_RW,
	IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT,
	IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
	IOMMU_TEST_OP_ACCESS_REPLACE_IOAS,
	IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS,
	IOMMU_TEST_OP_DIRTY,
	IOMMU_TEST_OP_MD_CHECK_IOTLB,
	IOMMU_TEST_OP_TRIGGER_IOPF,
	IOMMU_TEST_OP_DEV_CHECK_CACHE,
	IOMMU_TEST_OP_TRIGGER_VEVENT,
	IOMMU_TEST_OP_PASID_ATTACH,
	IOMMU_TEST_OP_PASID_REPLACE,
	IOMMU_TEST_OP_PASID_DETACH,
	IOMMU_TEST_OP_PASID_CHECK_HWPT,
};

/* The mock driver: its aperture, its device flags and the values its caches start with. */
#define MOCK_APERTURE_START		(1ull << 24)
#define MOCK_FLAGS_DEVICE_NO_DIRTY	(1u << 0)
#define MOCK_FLAGS_DEVICE_HUGE_IOVA	(1u << 1)
#define MOCK_FLAGS_DEVICE_PASID		(1u << 2)
#define IOMMU_TEST_DEV_CACHE_DEFAULT	0xbaddad

/* Flags of the access ops: CREATE_ACCESS, ACCESS_PAGES and ACCESS_RW. */
#define MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES (1u << 0)
#define MOCK_FLAGS_ACCESS_WRITE		(1u << 0)
#define MOCK_FLAGS_ACCESS_SYZ		(1u << 16)
#define MOCK_ACCESS_RW_WRITE		(1u << 0)
#define MOCK_ACCESS_RW_SLOW_PATH	(1u << 2)

struct iommu_test_cmd {
	uint32_t size, op, id, reserved;
	union {
		struct { uint64_t start, length; } add_reserved;
		struct { uint32_t out_stdev_id, out_hwpt_id, out_idev_id, dev_flags; } mock_domain;
		struct { uint64_t iova, length, uptr; } check_map;
		struct { uint64_t length, uptr; uint32_t refs; } check_refs;
		struct { uint32_t out_access_fd, flags; } create_access;
		struct { uint32_t access_pages_id; } destroy_access_pages;
		struct { uint32_t flags, out_access_pages_id; uint64_t iova, length, uptr; } access_pages;
		struct { uint64_t iova, length, uptr; uint32_t flags; } access_rw;
		struct { uint32_t limit; } memory_limit;
		struct { uint32_t ioas_id; } access_replace_ioas;
		struct { uint32_t flags; uint64_t iova, length, page_size, uptr, out_nr_dirty; } dirty;
		struct { uint32_t dev_id, pasid, grpid, perm; uint64_t addr; } trigger_iopf;
		struct { uint32_t pt_id; } mock_domain_replace;
		struct { uint32_t id, cache; } check_dev_cache;
		struct { uint32_t pasid, pt_id; } pasid_attach;
		struct { uint32_t pasid; } pasid_detach;
		struct { uint32_t pasid, hwpt_id; } pasid_check;
		uint8_t bytes[48];
	};
	uint32_t last;
};

_Static_assert(sizeof(struct iommu_hwpt_alloc) == 48, "iommu_hwpt_alloc layout");
_Static_assert(sizeof(struct iommu_hw_info) == 40, "iommu_hw_info layout");
_Static_assert(sizeof(struct iommu_hwpt_pgfault) == 40, "iommu_hwpt_pgfault layout");
_Static_assert(sizeof(struct iommu_test_cmd) == 72, "iommu_test_cmd layout");

#endif
