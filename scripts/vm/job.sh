# Job wrapper of the dmabuf-bench VM rig, sourced by /init (busybox sh).
# /job.conf comes per run in an appended cpio and defines:
#   DBU_NONCE        marker of this run's status lines on the console
#   DBU_MSIZE        9p msize
#   DBU_RW_1..N      host directories shared read-write (9p tags rw1..rwN),
#                    mounted at the same path under /host
#   dbu_command      runs the command: env -i ... chroot /host sh -c 'cd CWD; exec ...'
# The command's stdout goes to ttyS1 and its stderr to ttyS2; the console
# (ttyS0) carries only the kernel and the "@@DBU-<nonce> ..." status lines.
# shellcheck source=/dev/null
. /job.conf

dbu_mark() { echo "@@DBU-$DBU_NONCE $*"; }

dbu_mount_host() {
	opts="trans=virtio,version=9p2000.L,msize=$DBU_MSIZE"
	mkdir -p /host
	mount -t 9p -o "$opts,ro" hostroot /host || {
		dbu_mark "error: 9p mount of the host's / failed"
		return 1
	}
	if ! { mount -o rbind /dev /host/dev &&
		mount -t proc proc /host/proc &&
		mount -o rbind /sys /host/sys &&
		mount -t tmpfs -o mode=1777 tmp /host/tmp &&
		mount -t tmpfs -o mode=1777 vartmp /host/var/tmp; }; then
		dbu_mark "error: mounting /dev /proc /sys /tmp /var/tmp under /host failed"
		return 1
	fi
	i=1
	while eval "dir=\${DBU_RW_$i:-}"; [ -n "$dir" ]; do
		mkdir -p "/host$dir" 2>/dev/null
		mount -t 9p -o "$opts" "rw$i" "/host$dir" || {
			dbu_mark "error: 9p mount of $dir (read-write) failed"
			return 1
		}
		i=$((i + 1))
	done
}

dbu_rc=125
if dbu_mount_host; then
	stty -F /dev/ttyS1 raw -echo
	stty -F /dev/ttyS2 raw -echo
	dbu_mark "start"
	dbu_command </dev/null >/dev/ttyS1 2>/dev/ttyS2
	dbu_rc=$?
fi
dbu_mark "exit rc=$dbu_rc"
