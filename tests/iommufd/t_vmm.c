/* A VMM's device-assignment sequence through plain open/ioctl/close, checked as a program
 * running against the kernel's /dev/iommu would check it. Device vfio0 of the default platform:
 * 0000:00:02.0 behind dmar0 (VT-d, 48-bit, MSI window reserved, dirty tracking). */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "abi.h"
#include "../shim/check.h"

#define GUEST_RAM (2u << 20)
#define MSI_START 0xfee00000ull
#define MSI_LAST 0xfeefffffull

static uint32_t ioas_alloc(int fd)
{
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };

	CHECK_OK(ioctl(fd, IOMMU_IOAS_ALLOC, &cmd));
	return cmd.out_ioas_id;
}

static void check_struct_rules(int fd)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc), .flags = 1 };
	uint8_t longer[16] = { 16 };

	/* An unknown number, a known field with a value the kernel does not know, a struct shorter
	 * than the kernel needs, and a longer one with a non-zero tail. */
	CHECK_ERRNO(ioctl(fd, _IO(IOMMUFD_TYPE, 0xff), &alloc), ENOTTY);
	CHECK_ERRNO(ioctl(fd, IOMMU_IOAS_ALLOC, &alloc), EOPNOTSUPP);
	alloc.size = 8;
	alloc.flags = 0;
	CHECK_ERRNO(ioctl(fd, IOMMU_IOAS_ALLOC, &alloc), EINVAL);
	longer[15] = 1;
	CHECK_ERRNO(ioctl(fd, IOMMU_IOAS_ALLOC, longer), E2BIG);
}

static void check_ranges(int fd, uint32_t ioas)
{
	struct iommu_iova_range ranges[2] = { 0 };
	struct iommu_ioas_iova_ranges cmd = { .size = sizeof(cmd), .ioas_id = ioas };

	/* Asking with no room tells how many there are. */
	CHECK_ERRNO(ioctl(fd, IOMMU_IOAS_IOVA_RANGES, &cmd), EMSGSIZE);
	CHECK(cmd.num_iovas == 2);
	cmd.num_iovas = 2;
	cmd.allowed_iovas = (uintptr_t)ranges;
	CHECK_OK(ioctl(fd, IOMMU_IOAS_IOVA_RANGES, &cmd));
	CHECK(cmd.num_iovas == 2);
	CHECK(cmd.out_iova_alignment == 4096);
	/* The device's 48-bit aperture, less the x86 MSI window. */
	CHECK(ranges[0].start == 0 && ranges[0].last == MSI_START - 1);
	CHECK(ranges[1].start == MSI_LAST + 1 && ranges[1].last == (1ull << 48) - 1);
}

static void check_map_rules(int fd, uint32_t ioas, void *ram, uint64_t *auto_iova)
{
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = ioas,
		.user_va = (uintptr_t)ram,
		.length = GUEST_RAM,
		.iova = 0x100000,
	};

	CHECK_OK(ioctl(fd, IOMMU_IOAS_MAP, &map));
	CHECK_ERRNO(ioctl(fd, IOMMU_IOAS_MAP, &map), EEXIST);
	map.iova = 0x100001;
	CHECK_ERRNO(ioctl(fd, IOMMU_IOAS_MAP, &map), EINVAL);
	map.iova = MSI_START;
	CHECK_ERRNO(ioctl(fd, IOMMU_IOAS_MAP, &map), EINVAL);
	map.flags |= 1u << 3;
	CHECK_ERRNO(ioctl(fd, IOMMU_IOAS_MAP, &map), EOPNOTSUPP);

	/* Without FIXED_IOVA the IOAS picks the lowest fit, never the first page: 0x1000 here. */
	map.flags = IOMMU_IOAS_MAP_READABLE;
	map.iova = 0;
	map.length = 4096;
	CHECK_OK(ioctl(fd, IOMMU_IOAS_MAP, &map));
	CHECK(map.iova == 0x1000);
	*auto_iova = map.iova;
}

static void check_hw_info(int fd, uint32_t dev)
{
	uint8_t data[32];
	struct iommu_hw_info info = {
		.size = sizeof(info), .dev_id = dev, .data_len = sizeof(data), .data_uptr = (uintptr_t)data,
	};

	memset(data, 0xff, sizeof(data));
	CHECK_OK(ioctl(fd, IOMMU_GET_HW_INFO, &info));
	CHECK(info.out_data_type == IOMMU_HW_INFO_TYPE_INTEL_VTD);
	/* The kernel reports its own length (struct iommu_hw_info_vtd) and zeroes the rest. */
	CHECK(info.data_len == 24);
	CHECK(data[24] == 0 && data[31] == 0);
	CHECK(info.out_capabilities & IOMMU_HW_CAP_DIRTY_TRACKING);
	CHECK(info.out_max_pasid_log2 == 20);
	info.dev_id = 999;
	CHECK_ERRNO(ioctl(fd, IOMMU_GET_HW_INFO, &info), ENOENT);
}

static void check_dirty(int fd, uint32_t hwpt)
{
	uint64_t bitmap[8];
	struct iommu_hwpt_set_dirty_tracking set = {
		.size = sizeof(set), .flags = IOMMU_HWPT_DIRTY_TRACKING_ENABLE, .hwpt_id = hwpt,
	};
	struct iommu_hwpt_get_dirty_bitmap get = {
		.size = sizeof(get), .hwpt_id = hwpt, .iova = 0x100000, .length = GUEST_RAM,
		.page_size = 4096, .data = (uintptr_t)bitmap,
	};

	CHECK_OK(ioctl(fd, IOMMU_HWPT_SET_DIRTY_TRACKING, &set));
	memset(bitmap, 0xff, sizeof(bitmap));
	/* Nothing wrote since tracking began: every bit the kernel owns comes back clear. */
	CHECK_OK(ioctl(fd, IOMMU_HWPT_GET_DIRTY_BITMAP, &get));
	for (int i = 0; i < 8; i++)
		CHECK(bitmap[i] == 0);
	set.flags = 0;
	CHECK_OK(ioctl(fd, IOMMU_HWPT_SET_DIRTY_TRACKING, &set));
}

int main(void)
{
	uint64_t auto_iova = 0;
	int fd = open("/dev/iommu", O_RDWR);

	CHECK(fd >= 0);
	check_struct_rules(fd);
	uint32_t ioas = ioas_alloc(fd);
	CHECK(ioas == 1);

	CHECK_ERRNO(open("/dev/vfio/devices/vfio99", O_RDWR), ENOENT);
	int dev = open("/dev/vfio/devices/vfio0", O_RDWR);
	CHECK(dev >= 0);

	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind), .iommufd = fd };
	CHECK_OK(ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, &bind));
	CHECK(bind.out_devid == 2);
	CHECK_ERRNO(ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, &bind), EINVAL);

	/* Attaching to an IOAS makes an automatic HWPT and answers with its ID. */
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach), .pt_id = ioas };
	CHECK_OK(ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach));
	CHECK(attach.pt_id == 3);

	check_ranges(fd, ioas);
	void *ram = mmap(NULL, GUEST_RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(ram != MAP_FAILED);
	check_map_rules(fd, ioas, ram, &auto_iova);
	check_hw_info(fd, bind.out_devid);

	/* A HWPT with dirty tracking, put in place of the automatic one, which then goes away. */
	struct iommu_hwpt_alloc alloc = {
		.size = sizeof(alloc), .flags = IOMMU_HWPT_ALLOC_DIRTY_TRACKING, .dev_id = bind.out_devid, .pt_id = ioas,
	};
	CHECK_OK(ioctl(fd, IOMMU_HWPT_ALLOC, &alloc));
	CHECK(alloc.out_hwpt_id == 4);
	attach.pt_id = alloc.out_hwpt_id;
	CHECK_OK(ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach));
	CHECK(attach.pt_id == alloc.out_hwpt_id);
	struct iommu_destroy destroy = { .size = sizeof(destroy), .id = 3 };
	CHECK_ERRNO(ioctl(fd, IOMMU_DESTROY, &destroy), ENOENT);
	check_dirty(fd, alloc.out_hwpt_id);

	/* Objects in use cannot go. */
	destroy.id = ioas;
	CHECK_ERRNO(ioctl(fd, IOMMU_DESTROY, &destroy), EBUSY);
	destroy.id = alloc.out_hwpt_id;
	CHECK_ERRNO(ioctl(fd, IOMMU_DESTROY, &destroy), EBUSY);

	/* Unmap takes whole areas only; 0..U64_MAX takes everything left. */
	struct iommu_ioas_unmap unmap = { .size = sizeof(unmap), .ioas_id = ioas, .iova = 0x100000, .length = 4096 };
	CHECK_ERRNO(ioctl(fd, IOMMU_IOAS_UNMAP, &unmap), ENOENT);
	unmap.length = GUEST_RAM;
	CHECK_OK(ioctl(fd, IOMMU_IOAS_UNMAP, &unmap));
	CHECK(unmap.length == GUEST_RAM);
	unmap.iova = 0;
	unmap.length = UINT64_MAX;
	CHECK_OK(ioctl(fd, IOMMU_IOAS_UNMAP, &unmap));
	CHECK(unmap.length == 4096);

	struct vfio_device_detach_iommufd_pt detach = { .argsz = sizeof(detach) };
	CHECK_OK(ioctl(dev, VFIO_DEVICE_DETACH_IOMMUFD_PT, &detach));
	destroy.id = alloc.out_hwpt_id;
	CHECK_OK(ioctl(fd, IOMMU_DESTROY, &destroy));
	destroy.id = ioas;
	CHECK_OK(ioctl(fd, IOMMU_DESTROY, &destroy));
	CHECK_ERRNO(ioctl(fd, IOMMU_DESTROY, &destroy), ENOENT);

	CHECK_OK(close(dev));
	CHECK_OK(close(fd));
	munmap(ram, GUEST_RAM);
	(void)auto_iova;
	return test_result("t_vmm");
}
