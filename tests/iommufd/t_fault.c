/* I/O page faults read from a fault queue with poll and answered, as a VMM serving a guest's
 * page requests does. The fault is raised with the selftest's IOMMU_TEST_OP_TRIGGER_IOPF on the
 * mock device vfio6 (behind the mock unit, PRI capable), as the kernel's own selftest does. */
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include "abi.h"
#include "../shim/check.h"

static int readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };

	CHECK(poll(&p, 1, 0) == 1);
	CHECK(p.revents & POLLOUT); /* a fault queue can always take responses */
	return (p.revents & POLLIN) != 0;
}

static void trigger(int fd, uint32_t dev_id, uint32_t pasid, uint32_t grpid)
{
	struct iommu_test_cmd cmd = { .size = sizeof(cmd), .op = IOMMU_TEST_OP_TRIGGER_IOPF };

	cmd.trigger_iopf.dev_id = dev_id;
	cmd.trigger_iopf.pasid = pasid;
	cmd.trigger_iopf.grpid = grpid;
	cmd.trigger_iopf.perm = IOMMU_PGFAULT_PERM_READ | IOMMU_PGFAULT_PERM_WRITE;
	cmd.trigger_iopf.addr = 0xdeadbeaf;
	CHECK_OK(ioctl(fd, IOMMU_TEST_CMD, &cmd));
}

int main(void)
{
	int fd = open("/dev/iommu", O_RDWR);
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	CHECK_OK(ioctl(fd, IOMMU_IOAS_ALLOC, &ioas));

	int dev = open("/dev/vfio/devices/vfio6", O_RDWR);
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind), .iommufd = fd };
	CHECK_OK(ioctl(dev, VFIO_DEVICE_BIND_IOMMUFD, &bind));

	struct iommu_fault_alloc falloc = { .size = sizeof(falloc), .flags = 1 };
	CHECK_ERRNO(ioctl(fd, IOMMU_FAULT_QUEUE_ALLOC, &falloc), EOPNOTSUPP);
	falloc.flags = 0;
	CHECK_OK(ioctl(fd, IOMMU_FAULT_QUEUE_ALLOC, &falloc));
	int queue = (int)falloc.out_fault_fd;
	CHECK(queue > 2 && queue != fd && queue != dev);

	struct iommu_hwpt_alloc alloc = {
		.size = sizeof(alloc), .flags = IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID, .dev_id = bind.out_devid,
		.pt_id = ioas.out_ioas_id, .fault_id = falloc.out_fault_id,
	};
	CHECK_OK(ioctl(fd, IOMMU_HWPT_ALLOC, &alloc));
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach), .pt_id = alloc.out_hwpt_id };
	CHECK_OK(ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach));
	struct vfio_device_attach_iommufd_pt attach_pasid = {
		.argsz = sizeof(attach_pasid), .flags = VFIO_DEVICE_ATTACH_PASID, .pt_id = alloc.out_hwpt_id, .pasid = 3,
	};
	CHECK_OK(ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach_pasid));

	/* Nothing pending: not readable, and a read returns 0 at once rather than blocking. */
	struct iommu_hwpt_pgfault fault[2];
	CHECK(!readable(queue));
	CHECK(read(queue, fault, sizeof(fault[0])) == 0);

	/* A request without a PASID goes to the RID attachment; one with PASID 3 to that PASID's. */
	trigger(fd, bind.out_devid, 0, 2);
	CHECK(readable(queue));
	CHECK_ERRNO(read(queue, fault, sizeof(fault[0]) - 1), ESPIPE);
	CHECK(read(queue, fault, sizeof(fault)) == (ssize_t)sizeof(fault[0]));
	CHECK(fault[0].flags == IOMMU_PGFAULT_FLAGS_LAST_PAGE);
	CHECK(fault[0].dev_id == bind.out_devid);
	CHECK(fault[0].grpid == 2);
	CHECK(fault[0].perm == (IOMMU_PGFAULT_PERM_READ | IOMMU_PGFAULT_PERM_WRITE));
	CHECK(fault[0].addr == 0xdeadbeaf);
	CHECK(fault[0].cookie != 0);
	/* Read but not answered: no longer readable. */
	CHECK(!readable(queue));

	struct iommu_hwpt_page_response response = { .cookie = fault[0].cookie + 100, .code = IOMMUFD_PAGE_RESP_SUCCESS };
	CHECK_ERRNO(write(queue, &response, sizeof(response)), EINVAL);
	response.cookie = fault[0].cookie;
	response.code = 7;
	CHECK_ERRNO(write(queue, &response, sizeof(response)), EINVAL);
	response.code = IOMMUFD_PAGE_RESP_SUCCESS;
	CHECK_ERRNO(write(queue, &response, sizeof(response) - 1), ESPIPE);
	CHECK(write(queue, &response, sizeof(response)) == (ssize_t)sizeof(response));
	/* Answered once: the cookie is no longer awaiting a response. */
	CHECK_ERRNO(write(queue, &response, sizeof(response)), EINVAL);

	/* A second group after the first is answered, this time seen through a blocking poll. */
	trigger(fd, bind.out_devid, 3, 4);
	struct pollfd p = { .fd = queue, .events = POLLIN };
	CHECK(poll(&p, 1, 5000) == 1 && (p.revents & POLLIN));
	CHECK(read(queue, fault, sizeof(fault)) == (ssize_t)sizeof(fault[0]));
	CHECK(fault[0].flags == (IOMMU_PGFAULT_FLAGS_PASID_VALID | IOMMU_PGFAULT_FLAGS_LAST_PAGE));
	CHECK(fault[0].pasid == 3 && fault[0].grpid == 4);
	response.cookie = fault[0].cookie;
	CHECK(write(queue, &response, sizeof(response)) == (ssize_t)sizeof(response));

	/* The fault object is in use by the HWPT; the HWPT by the device. */
	struct iommu_destroy destroy = { .size = sizeof(destroy), .id = falloc.out_fault_id };
	CHECK_ERRNO(ioctl(fd, IOMMU_DESTROY, &destroy), EBUSY);
	struct vfio_device_detach_iommufd_pt detach = { .argsz = sizeof(detach), .flags = VFIO_DEVICE_DETACH_PASID, .pasid = 3 };
	CHECK_OK(ioctl(dev, VFIO_DEVICE_DETACH_IOMMUFD_PT, &detach));
	detach.flags = 0;
	detach.pasid = 0;
	CHECK_OK(ioctl(dev, VFIO_DEVICE_DETACH_IOMMUFD_PT, &detach));
	destroy.id = alloc.out_hwpt_id;
	CHECK_OK(ioctl(fd, IOMMU_DESTROY, &destroy));

	CHECK_OK(close(queue));
	CHECK_OK(close(dev));
	CHECK_OK(close(fd));
	return test_result("t_fault");
}
