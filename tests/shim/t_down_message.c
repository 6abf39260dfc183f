/* With no host at the socket, the shim says once on stderr which socket it tried (the program's
 * errno unchanged), and IOMMUFD_SHIM_QUIET=1 keeps it silent. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shim_test.h"

/* Runs opens with stderr sent to a file; returns what was written there. */
static char *stderr_of_opens(const char *dir, const char *name, int opens)
{
	static char text[4096];
	char file[160];
	int saved, out, i;
	ssize_t n;

	snprintf(file, sizeof(file), "%s/%s", dir, name);
	out = open(file, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(out >= 0);
	saved = dup(2);
	CHECK(dup2(out, 2) == 2);
	for (i = 0; i < opens; i++)
		CHECK_ERRNO(open("/dev/iommu", O_RDWR), ENOENT);
	CHECK(dup2(saved, 2) == 2);
	close(saved);
	n = pread(out, text, sizeof(text) - 1, 0);
	close(out);
	unlink(file);
	text[n > 0 ? n : 0] = '\0';
	return text;
}

int main(void)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char dir[80], path[100], expected[300];
	pid_t child;
	int status;

	snprintf(dir, sizeof(dir), "%s/shim-message-XXXXXX", tmp);
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/none.sock", dir);
	setenv("IOMMUFD_SOCKET", path, 1);

	/* Silenced: a child, so the parent's once-only message is still to come. */
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		setenv("IOMMUFD_SHIM_QUIET", "1", 1);
		_exit(strcmp(stderr_of_opens(dir, "quiet", 2), "") == 0 ? 0 : 1);
	}
	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* Said once, however many opens fail. */
	snprintf(expected, sizeof(expected),
		 "iommufd shim: no emulator host at %s (No such file or directory); start one there or set IOMMUFD_SOCKET (IOMMUFD_SHIM_QUIET=1 silences this)\n",
		 path);
	CHECK(strcmp(stderr_of_opens(dir, "said", 3), expected) == 0);
	CHECK(strcmp(stderr_of_opens(dir, "again", 2), "") == 0);

	rmdir(dir);
	return test_result("t_down_message");
}
