/* The benchmark's spawner: `spawn PROGRAM ARGS...` runs the program once, with
 * stdin/stdout/stderr on /dev/null and this process's environment, and prints
 * "<wall ns> <CPU ns> <ru_maxrss KiB> <wait status>" for it. The CPU time is
 * the child's user plus system time (`wait4`'s rusage; their sum is the
 * scheduler's exact runtime, only its split is estimated): what the run cost,
 * without the waits that make wall time noisy on a shared machine.
 *
 * Why a static C program of its own: Linux starts a process's ru_maxrss at the
 * RSS of the image that called execve, so a child of `cargo xtask` (a few MiB)
 * never reports less than xtask's own size. Spawned from this small static
 * program the floor is a few KiB, below any dynamically linked program.
 * posix_spawn (musl: clone with CLONE_VM|CLONE_VFORK) keeps the time from
 * spawn to exec, which both loaders pay alike, small.
 *
 * `spawn --resident PROGRAM ARGS...` instead stops the child when it exits
 * (ptrace, PTRACE_O_TRACEEXIT: before the kernel tears its memory down) and
 * prints "<resident KiB> <anonymous KiB> <wait status>" from
 * /proc/<pid>/smaps_rollup, which counts the mapped pages exactly. ru_maxrss
 * cannot be split that way, and it is coarse: the kernel keeps the RSS in
 * per-CPU counters and reads them without folding in the per-CPU deltas
 * (up to 31 pages per counter and CPU, so a small program's figure moves in
 * steps of up to 128 KiB). Not timed: ptrace stops cost time.
 *
 * `spawn --evict FILE...` drops the files' pages from the page cache
 * (fdatasync, then POSIX_FADV_DONTNEED) and prints how many pages stayed
 * cached (mapped by some running process). How a file came into the cache
 * shapes what a run maps: a file just written (a freshly linked libc.so) sits
 * in large folios, which a page fault maps whole, one read back from disk
 * does not; so both loaders' files are evicted and read back alike.
 *
 * Every measured run is pinned to one CPU, the last one this process may use,
 * the same for both loaders: a run that migrates between CPUs, or shares the
 * first CPU with the interrupts a virtual machine routes there, is slower by
 * chance. Under qemu-user it took the p90 of emulated startup from 1.35 to
 * 1.06 times the median (aarch64 `hello`, 200 runs). */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

extern char **environ;

/* The value of a "Name:   N kB" line of smaps_rollup text, or -1. */
static long rollup_kib(const char *text, const char *name)
{
	const char *at = strstr(text, name);
	return at ? strtol(at + strlen(name), 0, 10) : -1;
}

static int evict(char **files)
{
	long stayed = 0;
	for (; *files; files++) {
		int fd = open(*files, O_RDONLY);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) || fdatasync(fd) || posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)) {
			fprintf(stderr, "spawn: cannot evict %s: %s\n", *files, strerror(errno));
			return 1;
		}
		if (st.st_size > 0) {
			size_t pages = (st.st_size + 4095) / 4096;
			void *map = mmap(0, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
			unsigned char *in_core = malloc(pages);
			if (map == MAP_FAILED || !in_core || mincore(map, st.st_size, in_core)) {
				fprintf(stderr, "spawn: cannot check %s: %s\n", *files, strerror(errno));
				return 1;
			}
			for (size_t i = 0; i < pages; i++) stayed += in_core[i] & 1;
			free(in_core);
			munmap(map, st.st_size);
		}
		close(fd);
	}
	printf("%ld\n", stayed);
	return 0;
}

static int resident(char **argv)
{
	pid_t pid = fork();
	if (pid < 0) {
		perror("spawn: fork");
		return 1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0) _exit(126);
		if (ptrace(PTRACE_TRACEME, 0, 0, 0)) _exit(126);
		execvp(argv[0], argv);
		_exit(127);
	}
	int status;
	/* The tracee stops with SIGTRAP after a successful execve. */
	if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status)) {
		fprintf(stderr, "spawn: %s did not start (wait status %#x)\n", argv[0], status);
		return 1;
	}
	if (ptrace(PTRACE_SETOPTIONS, pid, 0, PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL)) {
		perror("spawn: PTRACE_SETOPTIONS");
		return 1;
	}
	long rss = -1, anon = -1;
	int signal = 0;
	for (;;) {
		if (ptrace(PTRACE_CONT, pid, 0, signal)) {
			perror("spawn: PTRACE_CONT");
			return 1;
		}
		if (waitpid(pid, &status, 0) != pid) {
			perror("spawn: waitpid");
			return 1;
		}
		if (WIFEXITED(status) || WIFSIGNALED(status)) break;
		signal = 0;
		if (status >> 8 == (SIGTRAP | PTRACE_EVENT_EXIT << 8)) {
			char path[64], text[4096];
			snprintf(path, sizeof path, "/proc/%d/smaps_rollup", (int)pid);
			int fd = open(path, O_RDONLY);
			ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof text - 1);
			if (n <= 0) {
				fprintf(stderr, "spawn: cannot read %s\n", path);
				return 1;
			}
			close(fd);
			text[n] = 0;
			rss = rollup_kib(text, "\nRss:");
			anon = rollup_kib(text, "\nAnonymous:");
		} else if (WIFSTOPPED(status) && WSTOPSIG(status) != SIGTRAP) {
			signal = WSTOPSIG(status); /* pass the program's own signals on */
		}
	}
	if (rss < 0 || anon < 0) {
		fprintf(stderr, "spawn: %s exited without an exit stop\n", argv[0]);
		return 1;
	}
	printf("%ld %ld %d\n", rss, anon, status);
	return 0;
}

/* Pin this process, and so the children it starts, to the last CPU it may use. */
static int pin_to_last_cpu(void)
{
	cpu_set_t allowed;
	if (sched_getaffinity(0, sizeof allowed, &allowed)) {
		perror("spawn: sched_getaffinity");
		return -1;
	}
	for (int cpu = CPU_SETSIZE - 1; cpu >= 0; cpu--) {
		if (!CPU_ISSET(cpu, &allowed)) continue;
		cpu_set_t one;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		if (sched_setaffinity(0, sizeof one, &one)) {
			perror("spawn: sched_setaffinity");
			return -1;
		}
		return 0;
	}
	fputs("spawn: no CPU to run on\n", stderr);
	return -1;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--evict")) return evict(argv + 2);
	if (pin_to_last_cpu()) return 1;
	if (argc > 2 && !strcmp(argv[1], "--resident")) return resident(argv + 2);
	if (argc < 2) {
		fputs("usage: spawn [--resident] PROGRAM ARGS... | spawn --evict FILE...\n", stderr);
		return 2;
	}
	posix_spawn_file_actions_t actions;
	if (posix_spawn_file_actions_init(&actions) ||
	    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDWR, 0) ||
	    posix_spawn_file_actions_adddup2(&actions, 0, 1) || posix_spawn_file_actions_adddup2(&actions, 0, 2)) {
		fputs("spawn: cannot set up file actions\n", stderr);
		return 1;
	}
	struct timespec start, end;
	clock_gettime(CLOCK_MONOTONIC, &start);
	pid_t pid;
	int err = posix_spawnp(&pid, argv[1], &actions, 0, argv + 1, environ);
	if (err) {
		fprintf(stderr, "spawn: %s: %s\n", argv[1], strerror(err));
		return 1;
	}
	int status;
	struct rusage usage;
	if (wait4(pid, &status, 0, &usage) != pid) {
		perror("spawn: wait4");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	long long ns = (long long)(end.tv_sec - start.tv_sec) * 1000000000 + (end.tv_nsec - start.tv_nsec);
	long long cpu_ns = (long long)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000000000 +
			   (long long)(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1000;
	printf("%lld %lld %ld %d\n", ns, cpu_ns, usage.ru_maxrss, status);
	return 0;
}
