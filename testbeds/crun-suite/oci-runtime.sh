#!/usr/bin/env bash
# The OCI_RUNTIME that crun's tests/*.py run (see README.md): maps the crun-only
# command-line options those tests pass onto what runc and davit accept, then
# execs the real runtime. crun itself is exec'ed with its arguments unchanged.
#
#   CRUN_SUITE_RUNTIME=/path/to/runtime  the real runtime (required)
#   CRUN_SUITE_FLAVOR=runc|crun          runc: map the options (davit, runc);
#                                        crun: pass everything through (default:
#                                        crun if the runtime's basename starts with crun)
#   CRUN_SUITE_TRACE=FILE                append each mapped command line to FILE
#
# Mappings (runc flavour):
#   global  --cgroup-manager[=]cgroupfs   dropped (the default of runc and davit)
#           --cgroup-manager[=]systemd    --systemd-cgroup
#           --cgroup-manager[=]disabled   refused: runc and davit always use cgroups
#   run|create --config|-f FILE           dropped when FILE is the bundle's config.json
#                                         (the bundle is --bundle/-b or the cwd);
#                                         refused otherwise: runc and davit always read
#                                         BUNDLE/config.json
# Everything else is passed through unchanged.
set -euo pipefail

real=${CRUN_SUITE_RUNTIME:?CRUN_SUITE_RUNTIME: the real runtime is not set}
flavor=${CRUN_SUITE_FLAVOR:-}
if [[ -z $flavor ]]; then
	case ${real##*/} in
	crun*) flavor=crun ;;
	*) flavor=runc ;;
	esac
fi

trace() {
	if [[ -n ${CRUN_SUITE_TRACE:-} ]]; then
		printf '%q ' "$@" >>"$CRUN_SUITE_TRACE"
		printf '\n' >>"$CRUN_SUITE_TRACE"
	fi
}

if [[ $flavor == crun ]]; then
	trace "$real" "$@"
	exec "$real" "$@"
fi

refuse() {
	printf 'crun-suite wrapper: %s\n' "$*" >&2
	exit 1
}

map_cgroup_manager() {
	case $1 in
	cgroupfs) ;;
	systemd) out+=(--systemd-cgroup) ;;
	*) refuse "--cgroup-manager=$1 has no equivalent for ${real##*/}" ;;
	esac
}

# Global options: up to the first non-option word (the command).
out=()
while (($#)); do
	case $1 in
	--cgroup-manager)
		(($# >= 2)) || refuse "--cgroup-manager needs a value"
		map_cgroup_manager "$2"
		shift 2
		;;
	--cgroup-manager=*)
		map_cgroup_manager "${1#*=}"
		shift
		;;
	# Global options of runc that take a value as the next word.
	--root | --log | --log-format | --criu | --rootless)
		(($# >= 2)) || refuse "$1 needs a value"
		out+=("$1" "$2")
		shift 2
		;;
	-*)
		out+=("$1")
		shift
		;;
	*) break ;;
	esac
done

if (($#)); then
	cmd=$1
	shift
	out+=("$cmd")
	case $cmd in
	run | create)
		rest=() config="" bundle=.
		while (($#)); do
			case $1 in
			--config | -f)
				(($# >= 2)) || refuse "$1 needs a value"
				config=$2
				shift 2
				;;
			--config=*)
				config=${1#*=}
				shift
				;;
			--bundle | -b)
				(($# >= 2)) || refuse "$1 needs a value"
				bundle=$2
				rest+=("$1" "$2")
				shift 2
				;;
			--bundle=*)
				bundle=${1#*=}
				rest+=("$1")
				shift
				;;
			--)
				rest+=("$@")
				break
				;;
			*)
				rest+=("$1")
				shift
				;;
			esac
		done
		if [[ -n $config ]]; then
			want=$(realpath -m -- "$bundle/config.json")
			got=$(realpath -m -- "$config")
			[[ $got == "$want" ]] ||
				refuse "$cmd --config $config: ${real##*/} has no --config and always reads $bundle/config.json"
		fi
		out+=("${rest[@]}")
		;;
	*) out+=("$@") ;;
	esac
fi

trace "$real" "${out[@]}"
exec "$real" "${out[@]}"
