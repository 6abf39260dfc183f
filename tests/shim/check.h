/* Check helpers of the C test programs: a failed check is counted and printed with the line,
 * the expression and errno, and test_result() turns the count into the exit code. */
#ifndef SHIM_CHECK_H
#define SHIM_CHECK_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int test_failures;

#define CHECK(cond)								\
	do {									\
		if (!(cond)) {							\
			fprintf(stderr, "%s:%d: check failed: %s (errno %d %s)\n",	\
				__FILE__, __LINE__, #cond, errno, strerror(errno));	\
			test_failures++;					\
		}								\
	} while (0)

/* A call that must fail with exactly err. */
#define CHECK_ERRNO(call, err)							\
	do {									\
		errno = 0;							\
		long check_rc_ = (long)(call);					\
		int check_errno_ = errno;					\
		if (check_rc_ != -1 || check_errno_ != (err)) {			\
			fprintf(stderr, "%s:%d: %s gave %ld errno %d (%s), wanted -1 errno %d (%s)\n", \
				__FILE__, __LINE__, #call, check_rc_, check_errno_,	\
				strerror(check_errno_), err, strerror(err));	\
			test_failures++;					\
		}								\
	} while (0)

/* A call that must succeed (return 0). */
#define CHECK_OK(call)								\
	do {									\
		errno = 0;							\
		long check_rc_ = (long)(call);					\
		if (check_rc_ != 0) {						\
			fprintf(stderr, "%s:%d: %s gave %ld errno %d (%s), wanted 0\n", \
				__FILE__, __LINE__, #call, check_rc_, errno, strerror(errno)); \
			test_failures++;					\
		}								\
	} while (0)

static inline int test_result(const char *name)
{
	if (test_failures)
		fprintf(stderr, "%s: %d check(s) failed\n", name, test_failures);
	return test_failures ? 1 : 0;
}

#endif
