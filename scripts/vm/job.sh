# Job wrapper of the dmabuf-bench VM rig, sourced by /init (busybox sh).
# /job.conf comes per run in an appended cpio and defines:
#   DBU_NONCE        marker of this run's status lines on the console
#   DBU_MSIZE        9p msize
#   DBU_RW_1..N      host directories shared read-write (9p tags rw1..rwN),
#                    mounted at the same path under /host
#   DBU_PEER         1: load /peer.list and bind the ivshmem peer to vfio-pci
# and exports for the command DBU_NVME_BDF, DBU_PEER_BDF, DBU_PEER_CMB_BDF
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

# The BDF of the first PCI device with this vendor and device id.
dbu_pci_find() {
	for d in /sys/bus/pci/devices/*; do
		if [ "$(cat "$d/vendor")" = "$1" ] && [ "$(cat "$d/device")" = "$2" ]; then
			basename "$d"
			return 0
		fi
	done
	return 1
}

dbu_peer_setup() {
	while read -r mod args; do
		[ -n "$mod" ] || continue
		# shellcheck disable=SC2086 # args are word-split on purpose
		insmod "/lib/modules/$mod" $args || dbu_mark "insmod failed: $mod $args"
	done < /peer.list
	DBU_PEER_BDF=$(dbu_pci_find 0x1af4 0x1110) || {
		dbu_mark "error: --peer-bar: no ivshmem device in the guest"
		return 0
	}
	export DBU_PEER_BDF
	d=/sys/bus/pci/devices/$DBU_PEER_BDF
	echo vfio-pci > "$d/driver_override"
	echo "$DBU_PEER_BDF" > /sys/bus/pci/drivers_probe 2>/dev/null
	drv=$(basename "$(readlink "$d/driver")" 2>/dev/null)
	grp=$(basename "$(readlink "$d/iommu_group")" 2>/dev/null)
	if [ "$drv" = vfio-pci ]; then
		dbu_mark "peer $DBU_PEER_BDF: bound to vfio-pci, IOMMU group $grp"
	else
		dbu_mark "peer $DBU_PEER_BDF: not bound to vfio-pci (IOMMU group: ${grp:-none})"
	fi
}

# The BDF of the NVMe controller with this serial (the rig sets them).
dbu_nvme_find() {
	for s in /sys/class/nvme/nvme*/serial; do
		read -r ser < "$s" 2>/dev/null && [ "$ser" = "$1" ] || continue
		basename "$(readlink -f "${s%/serial}/device")"
		return 0
	done
	return 1
}

# --peer-cmb's controller has no namespace for /init to wait on: wait here
# (20 s at most) until it is identified and has published its CMB.
dbu_cmb_find() {
	i=0
	while [ "$i" -lt 200 ]; do
		b=$(dbu_nvme_find dbu-cmb) && [ -e "/sys/bus/pci/devices/$b/p2pmem/size" ] &&
			{ echo "$b"; return 0; }
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# nvme built into a --kernel probes both controllers before /init can hold
# one back: if the CMB controller took nvme0, bind the target first.
dbu_nvme_order() {
	[ -e "/sys/bus/pci/devices/$DBU_NVME_BDF/nvme/nvme0" ] && return 0
	dbu_mark "nvme0 is the CMB controller: binding the target first"
	echo "$DBU_PEER_CMB_BDF" > /sys/bus/pci/drivers/nvme/unbind
	echo "$DBU_NVME_BDF" > /sys/bus/pci/drivers/nvme/unbind
	echo "$DBU_NVME_BDF" > /sys/bus/pci/drivers/nvme/bind
	wait_dev /dev/nvme0n1
	echo "$DBU_PEER_CMB_BDF" > /sys/bus/pci/drivers/nvme/bind
	[ -e "/sys/bus/pci/devices/$DBU_NVME_BDF/nvme/nvme0" ]
}

DBU_NVME_BDF=$(dbu_nvme_find dbu-nvme0) && export DBU_NVME_BDF
if [ "$(grep -lx 0x010802 /sys/bus/pci/devices/*/class | wc -l)" -gt 1 ]; then
	if DBU_PEER_CMB_BDF=$(dbu_cmb_find) && dbu_nvme_order &&
		DBU_PEER_CMB_BDF=$(dbu_cmb_find); then
		export DBU_PEER_CMB_BDF
	else
		dbu_mark "error: --peer-cmb: no NVMe dbu-cmb with P2PDMA memory"
	fi
fi
[ "$DBU_PEER" = 1 ] && dbu_peer_setup

dbu_rc=125
if dbu_mount_host; then
	stty -F /dev/ttyS1 raw -echo
	stty -F /dev/ttyS2 raw -echo
	dbu_mark "start"
	dbu_command </dev/null >/dev/ttyS1 2>/dev/ttyS2
	dbu_rc=$?
fi
dbu_mark "exit rc=$dbu_rc"
