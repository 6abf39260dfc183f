/* vSVA-style PASID use: a PASID-capable device (vfio0, 0000:00:02.0 behind dmar0, 20-bit
 * PASIDs) gets page tables attached per PASID beside its RID attachment, as a VMM does when the
 * guest binds process address spaces to PASIDs. */
#include <fcntl.h>
#include <unistd.h>

#include "abi.h"
#include "../shim/check.h"

static uint32_t hwpt_alloc(int fd, uint32_t dev_id, uint32_t pt_id, uint32_t flags)
{
	struct iommu_hwpt_alloc cmd = { .size = sizeof(cmd), .flags = flags, .dev_id = dev_id, .pt_id = pt_id };

	CHECK_OK(ioctl(fd, IOMMU_HWPT_ALLOC, &cmd));
	return cmd.out_hwpt_id;
}

static int attach_pasid(int dev, uint32_t pasid, uint32_t pt_id)
{
	struct vfio_device_attach_iommufd_pt cmd = {
		.argsz = sizeof(cmd), .flags = VFIO_DEVICE_ATTACH_PASID, .pt_id = pt_id, .pasid = pasid,
	};

	return ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &cmd);
}

static int detach_pasid(int dev, uint32_t pasid)
{
	struct vfio_device_detach_iommufd_pt cmd = { .argsz = sizeof(cmd), .flags = VFIO_DEVICE_DETACH_PASID, .pasid = pasid };

	return ioctl(dev, VFIO_DEVICE_DETACH_IOMMUFD_PT, &cmd);
}

int main(void)
{
	int fd = open("/dev/iommu", O_RDWR);
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	CHECK_OK(ioctl(fd, IOMMU_IOAS_ALLOC, &ioas));

	int dev = open("/dev/vfio/devices/vfio0", O_RDWR);
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind), .iommufd = fd };
	CHECK_OK(ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, &bind));

	uint32_t rid_hwpt = hwpt_alloc(fd, bind.out_devid, ioas.out_ioas_id, IOMMU_HWPT_ALLOC_PASID);
	uint32_t pasid_hwpt = hwpt_alloc(fd, bind.out_devid, ioas.out_ioas_id, IOMMU_HWPT_ALLOC_PASID);
	uint32_t plain_hwpt = hwpt_alloc(fd, bind.out_devid, ioas.out_ioas_id, 0);

	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach), .pt_id = rid_hwpt };
	CHECK_OK(ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach));

	/* PASID attach needs the longer struct, a known flag, and a PASID-capable page table. */
	struct vfio_device_attach_iommufd_pt shorter = {
		.argsz = 12, .flags = VFIO_DEVICE_ATTACH_PASID, .pt_id = pasid_hwpt, .pasid = 5,
	};
	CHECK_ERRNO(ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &shorter), EINVAL);
	shorter.argsz = sizeof(shorter);
	shorter.flags = 1u << 1;
	CHECK_ERRNO(ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &shorter), EINVAL);
	CHECK_ERRNO(attach_pasid(dev, 5, plain_hwpt), EINVAL);

	CHECK_OK(attach_pasid(dev, 5, pasid_hwpt));
	CHECK_OK(attach_pasid(dev, 6, pasid_hwpt));
	/* Attaching an attached PASID again replaces its page table. */
	CHECK_OK(attach_pasid(dev, 6, rid_hwpt));

	/* A page table with PASIDs attached is in use. */
	struct iommu_destroy destroy = { .size = sizeof(destroy), .id = pasid_hwpt };
	CHECK_ERRNO(ioctl(fd, IOMMU_DESTROY, &destroy), EBUSY);

	CHECK_OK(detach_pasid(dev, 5));
	/* Detaching what is not attached is a silent success. */
	CHECK_OK(detach_pasid(dev, 5));
	CHECK_OK(ioctl(fd, IOMMU_DESTROY, &destroy));

	CHECK_OK(detach_pasid(dev, 6));
	struct vfio_device_detach_iommufd_pt detach = { .argsz = sizeof(detach) };
	CHECK_OK(ioctl(dev, VFIO_DEVICE_DETACH_IOMMUFD_PT, &detach));
	destroy.id = rid_hwpt;
	CHECK_OK(ioctl(fd, IOMMU_DESTROY, &destroy));
	destroy.id = plain_hwpt;
	CHECK_OK(ioctl(fd, IOMMU_DESTROY, &destroy));

	/* Closing the device file unbinds it; closing the iommufd frees the rest. */
	CHECK_OK(close(dev));
	CHECK_OK(close(fd));
	return test_result("t_vsva");
}
