/* With the emulator down, opens fail with ENOENT or ECONNREFUSED and nothing crashes; other
 * files are untouched. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "shim_test.h"

int main(void)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char dir[80], path[100];	/* a socket path fits in sun_path (108) */
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int s;

	snprintf(dir, sizeof(dir), "%s/shim-down-XXXXXX", tmp);
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/none.sock", dir);
	setenv("IOMMUFD_SOCKET", path, 1);
	setenv("IOMMUFD_SHIM_QUIET", "1", 1);	/* the message itself: t_down_message */
	CHECK_ERRNO(open("/dev/iommu", O_RDWR), ENOENT);
	CHECK_ERRNO(open("/dev/vfio/devices/vfio0", O_RDWR), ENOENT);

	/* a socket file nobody listens on */
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(addr.sun_path, path);
	CHECK(bind(s, (struct sockaddr *)&addr, sizeof(addr)) == 0);
	CHECK_ERRNO(open("/dev/iommu", O_RDWR), ECONNREFUSED);
	close(s);
	unlink(path);
	rmdir(dir);

	int other = open("/dev/null", O_RDONLY);
	CHECK(other >= 0);
	CHECK(close(other) == 0);
	return test_result("t_down");
}
