#ifndef CONSUMERD_CSCHEDULER_SHIM_H
#define CONSUMERD_CSCHEDULER_SHIM_H

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

// The kernel's struct sched_attr (linux/sched/types.h), under a name of its
// own: glibc 2.41 declares the struct too, older glibc does not wrap
// sched_getattr and sched_setattr at all, and syscall(2) is variadic, which
// Swift cannot call.
struct csched_attr {
    uint32_t size;
    uint32_t sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime;
    uint64_t sched_deadline;
    uint64_t sched_period;
    uint32_t sched_util_min;
    uint32_t sched_util_max;
};

// Asks for a time slice of `nanoseconds` for the calling thread, keeping its
// policy and nice value. For a normal thread, Linux 6.12 and later (EEVDF)
// take sched_runtime as the slice it requests: a shorter slice means an
// earlier deadline, so the thread runs soon after it wakes. Earlier kernels
// ignore the field. Returns 0, or -1 with errno set. A thread asks the
// kernel once per slice and keeps the answer, refusal included: the
// server's pool threads ask once per connection they start serving, and a
// kernel (or seccomp filter) that refused once refuses again.
static inline int csched_request_slice(uint64_t nanoseconds) {
    static __thread uint64_t asked;
    static __thread int answer;
    static __thread int answerErrno;
    if (asked == nanoseconds) {
        errno = answerErrno;
        return answer;
    }
    struct csched_attr attr;
    memset(&attr, 0, sizeof attr);
    answer = (int)syscall(SYS_sched_getattr, 0, &attr, sizeof attr, 0);
    if (answer == 0) {
        attr.size = sizeof attr;
        attr.sched_flags = 0;
        attr.sched_runtime = nanoseconds;
        answer = (int)syscall(SYS_sched_setattr, 0, &attr, 0);
    }
    answerErrno = answer == 0 ? 0 : errno;
    asked = nanoseconds;
    return answer;
}

// Names the calling thread: what /proc/<pid>/task/<tid>/comm, top -H, ps -L
// and perf show. The kernel keeps the first 15 bytes. prctl(2) is
// variadic, which Swift cannot call; glibc's pthread_setname_np is hidden
// behind _GNU_SOURCE and refuses longer names instead of cutting them.
static inline int cthread_set_name(const char *name) {
    return prctl(PR_SET_NAME, (unsigned long)name, 0UL, 0UL, 0UL);
}

#endif
