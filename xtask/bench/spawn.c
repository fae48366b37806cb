/* The benchmark's spawner: `spawn PROGRAM ARGS...` runs the program once, with
 * stdin/stdout/stderr on /dev/null and this process's environment, and prints
 * "<wall ns> <ru_maxrss KiB> <wait status>" for it.
 *
 * Why a static C program of its own: Linux starts a process's ru_maxrss at the
 * RSS of the image that called execve, so a child of `cargo xtask` (a few MiB)
 * never reports less than xtask's own size. Spawned from this small static
 * program the floor is a few KiB, below any dynamically linked program.
 * posix_spawn (musl: clone with CLONE_VM|CLONE_VFORK) keeps the time from
 * spawn to exec, which both loaders pay alike, small. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs("usage: spawn PROGRAM ARGS...\n", stderr);
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
	printf("%lld %ld %d\n", ns, usage.ru_maxrss, status);
	return 0;
}
