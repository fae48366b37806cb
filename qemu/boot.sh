#!/bin/sh
# The guest side of the boot test (`cargo xtask boot`, xtask/src/boot.rs).
# busybox init runs this (qemu/inittab) with busybox's sh, both dynamically
# linked through /lib/ld-musl-<m>.so.1. It runs every test of the list the
# host generated for this image's loader (format: xtask/src/boot/guest_tests.rs),
# prints one line per test, reports the failed opens of a store-heavy program
# with and without resolution notes, prints the final marker and powers off.
#
# Console lines the host reads:
#   STORMLESS-BOOT-START loader=<ours|reference> machine=<uname -m>
#   STORMLESS-TEST PASS <name> | STORMLESS-TEST FAIL <name> (then indented details)
#   STORMLESS-STATS notes=<yes|no> failed_opens=<n> | ... unavailable (<why>)
#   STORMLESS-BOOT-DONE passed=<n> failed=<n>
PATH=/bin
export PATH

# Seconds a step may take before it is killed (busybox timeout: SIGTERM), as on the host.
step_timeout=60

mount -t proc proc /proc || echo "STORMLESS-BOOT-ERROR cannot mount /proc"
mount -t sysfs sys /sys || echo "STORMLESS-BOOT-ERROR cannot mount /sys"
mount -t devtmpfs dev /dev || echo "STORMLESS-BOOT-ERROR cannot mount /dev"

loader=$(cat /etc/stormless/loader)
echo "STORMLESS-BOOT-START loader=$loader machine=$(uname -m)"

# slurp FILE: the file's text, trailing newlines kept, into $slurped.
slurp() {
	slurped=$(cat "$1"; echo x)
	slurped=${slurped%x}
}

# check_step DIR: run the step, then compare what it did with what it must
# do; print each difference, indented. Returns 0 when everything matched.
check_step() {
	step=$1
	timeout "$step_timeout" sh "$step/cmd" </dev/null >/tmp/stdout 2>/tmp/stderr
	status=$?
	if [ -e "$step/unchecked" ]; then
		# 143: killed by timeout's SIGTERM. Nothing else is compared (the file says why).
		[ "$status" != 143 ] && return 0
		echo "    did not finish within $step_timeout s"
		return 1
	fi
	bad=0
	want=$(cat "$step/status")
	if [ "$status" != "$want" ]; then
		echo "    exit status $status, expected $want"
		bad=1
	fi
	for stream in stdout stderr; do
		got=/tmp/$stream
		if [ -e "$step/$stream.sed" ]; then
			sed -f "$step/$stream.sed" "$got" >"$got.masked"
			got=$got.masked
		fi
		if [ -e "$step/$stream" ] && ! cmp -s "$step/$stream" "$got"; then
			echo "    $stream differs (--- expected, +++ got):"
			diff -u "$step/$stream" "$got" | head -n 40 | sed 's/^/      /'
			bad=1
		fi
		for text in "$step/$stream".has.*; do
			[ -e "$text" ] || continue
			slurp "$text"
			wanted=$slurped
			slurp "$got"
			case "$slurped" in
			*"$wanted"*) ;;
			*)
				echo "    $stream lacks:"
				sed 's/^/      /' "$text"
				echo "    $stream was:"
				head -n 20 "$got" | sed 's/^/      /'
				bad=1
				;;
			esac
		done
	done
	return $bad
}

passed=0
failed=0
for test in /stormless/tests/"$loader"/*; do
	name=$(cat "$test/name")
	: >/tmp/report
	ok=1
	for step in "$test"/step-*; do
		check_step "$step" >>/tmp/report || ok=0
	done
	if [ "$ok" = 1 ]; then
		echo "STORMLESS-TEST PASS $name"
		passed=$((passed + 1))
	else
		echo "STORMLESS-TEST FAIL $name"
		cat /tmp/report
		failed=$((failed + 1))
	fi
done

# The failed opens of the store-heavy program, as the loader counts them
# (LD_DEBUG=statistics, ld-so/src/ld_debug.rs); stock musl has no such report.
while read -r label program; do
	line=$(env -i LD_DEBUG=statistics "$program" </dev/null 2>&1 >/dev/null | grep 'statistics:')
	count=$(echo "$line" | sed -n 's/.*(\([0-9]*\) failed).*/\1/p')
	if [ -n "$count" ]; then
		echo "STORMLESS-STATS $label failed_opens=$count"
	else
		echo "STORMLESS-STATS $label unavailable (no LD_DEBUG=statistics line from the $loader loader)"
	fi
done </stormless/stats/programs

echo "STORMLESS-BOOT-DONE passed=$passed failed=$failed"
poweroff -f
