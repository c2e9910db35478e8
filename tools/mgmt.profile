# SPDX-License-Identifier: MIT
# /etc/profile of Keel's management partition shell.
export PATH=/bin:/usr/sbin
export PS1='keel-mgmt:\w# '
if [ -z "$KEEL_MOTD_SHOWN" ]; then
	export KEEL_MOTD_SHOWN=1
	cat <<'MOTD'

Keel management partition. Try:
  keelctl info                      the machine: cores and memory, free and used
  keelctl create vm1 --cpus 1 --memory 256M --kernel /images/kernel \
      --initrd /images/initrd.gz --disk /images/disk.img \
      --cmdline 'console=@CONSOLE@ loglevel=4 keel.wait=600' --start
  keelctl list                      partitions and their state (--json for scripts)
  keelctl net                       Keel's networks; give a microVM a NIC with --net lan
  keelctl console vm1               attach (Ctrl-\ detaches)
  keelctl stop vm1; keelctl destroy vm1
  keelctl --help                    everything else
Images for microVMs are in /images. Lines starting "[time] keel:" are Keel's own.

MOTD
fi
