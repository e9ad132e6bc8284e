#!/bin/sh
# Boots one lab host inside its own network, mount, UTS and PID (and, for systemd, cgroup) namespaces.
#   boot.sh init          runs as PID 1: hostname, copy-on-write /etc and /var, private /run /tmp /root /home
#                         /dev, everything else shared with the machine read-only; then hands PID 1 to
#                         systemd (LAB_INIT=systemd) or to tini, which runs `boot.sh services`.
#   boot.sh services      (init scripts) starts syslog, sshd and the role's daemons as a Debian host would
#                         (the mail store: Dovecot, then Postfix), then idles.
#   boot.sh accounts      (systemd, a oneshot unit) creates the role's accounts: vmail, and the login user drill.
#   boot.sh wait-storage  (systemd, a oneshot unit) waits until the storage host's sshd answers.
# The environment (LAB_*) comes from mxdrill.lab.configs.boot_environment; files come pre-written in the
# upper layers, so nothing here edits the machine's own /etc.
set -eu

say() { echo "boot[$LAB_HOST]: $*"; }

wait_tcp() {  # wait_tcp ADDR PORT SECONDS: readiness by probing, never a fixed sleep
    end=$(( $(date +%s) + $3 ))
    until timeout 1 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; do
        [ "$(date +%s)" -lt "$end" ] || { say "timed out waiting for $1:$2"; return 1; }
        sleep 0.1
    done
}

make_dev() {
    mount -t tmpfs -o mode=755,nosuid,size=1m tmpfs /dev
    mknod -m 666 /dev/null c 1 3; mknod -m 666 /dev/zero c 1 5; mknod -m 666 /dev/full c 1 7
    mknod -m 666 /dev/random c 1 8; mknod -m 666 /dev/urandom c 1 9; mknod -m 666 /dev/tty c 5 0
    mknod -m 666 /dev/fuse c 10 229
    mkdir /dev/pts /dev/shm
    mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts /dev/pts
    ln -s pts/ptmx /dev/ptmx
    mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm
    ln -s /proc/self/fd /dev/fd; ln -s /proc/self/fd/0 /dev/stdin
    ln -s /proc/self/fd/1 /dev/stdout; ln -s /proc/self/fd/2 /dev/stderr
}

read_only_machine() {
    # Whatever is still the machine's own (/usr, /opt, /srv, /boot ...; /bin, /lib and /sbin are links
    # into /usr) becomes read-only in this mount namespace only: a host cannot damage the machine's
    # programs for every later lab. The overlays' upper layers were opened above and stay writable.
    mount -o remount,bind,ro /
    mount -o remount,bind,ro,nosuid,nodev,noexec /sys
}

stage_init() {
    hostname "$LAB_FQDN"
    for d in etc var; do
        mount -t overlay "mxdrill-lab-$LAB_HOST-$d" -o "lowerdir=/$d,upperdir=$LAB_RUN/$d.upper,workdir=$LAB_RUN/$d.work" "/$d"
    done
    # The machine's /run/netns mounts came along into this mount namespace; drop them before /run hides
    # them, so that no host holds the other hosts' network namespaces alive (nor lists them as mounts).
    umount -R -l /run/netns 2>/dev/null || :
    mount -t tmpfs -o mode=755 tmpfs /run
    mkdir -p /run/lock /run/sshd
    mount -t tmpfs -o mode=1777 tmpfs /tmp
    mount -t tmpfs -o mode=700 tmpfs /root
    mount -t tmpfs -o mode=755 tmpfs /home
    [ "$LAB_ROLE" != storage ] || mount -t tmpfs -o mode=755 tmpfs /srv
    make_dev
    read_only_machine
    if [ "$LAB_INIT" = systemd ]; then
        # The cgroup namespace's root is this host's own cgroup (mxdrill.lab.cgroups): systemd sees a
        # cgroup v2 tree of its own, as in any container, and the machine's stays untouched.
        mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 /sys/fs/cgroup
        exec env -i container=mxdrill-lab /lib/systemd/systemd --system
    fi
    exec tini -- /bin/sh /etc/mxdrill-lab/boot.sh services
}

start_common() {
    rsyslogd -f /etc/rsyslog.conf -i /run/rsyslogd.pid
    /usr/sbin/sshd
}

add_vmail() {
    grep -q '^vmail:' /etc/group || groupadd -g "$LAB_VMAIL_ID" vmail
    grep -q '^vmail:' /etc/passwd || useradd -u "$LAB_VMAIL_ID" -g "$LAB_VMAIL_ID" -p '*' -d "$1" -s /bin/sh -M vmail
}

add_login_user() {
    # A password of '*' never matches, but, unlike '!', does not lock the account for key logins.
    grep -q '^drill:' /etc/passwd || useradd -m -d /home/drill -s /bin/bash -p '*' drill
}

own_mysql_maps() {  # 0640 and group postfix, as seed 003 has them: they hold the database password
    for map in /etc/postfix/mysql-*.cf; do [ ! -e "$map" ] || chgrp postfix "$map"; done
}

stage_accounts() {
    add_login_user
    if [ "$LAB_ROLE" = mx ]; then add_vmail "$LAB_MAILBOX_BASE"; mkdir -p "$LAB_MAILBOX_BASE"; own_mysql_maps; fi
    say "accounts ready"
}

mount_storage() {
    mkdir -p "$LAB_MAILBOX_BASE"
    wait_tcp "$LAB_STORAGE_ADDR" 22 20
    mount "$LAB_MAILBOX_BASE"  # its /etc/fstab line, as the storage fault's heal mounts it again
    say "mounted $LAB_STORAGE_ADDR:$LAB_STORAGE_EXPORT on $LAB_MAILBOX_BASE"
}

stage_services() {
    if [ "$LAB_ROLE" = storage ]; then  # before sshd: once it answers, the MXs may mount the export
        add_vmail "$LAB_STORAGE_EXPORT"
        mkdir -p "$LAB_STORAGE_EXPORT"
        chown "$LAB_VMAIL_ID:$LAB_VMAIL_ID" "$LAB_STORAGE_EXPORT"
    fi
    start_common
    case "$LAB_ROLE" in
    dns)
        mkdir -p /run/knot && chown knot:knot /run/knot
        knotd -d -c /etc/knot/knot.conf
        ;;
    mx)
        add_vmail "$LAB_MAILBOX_BASE"
        own_mysql_maps
        if [ "$LAB_MOUNT_STORAGE" = 1 ]; then mount_storage; fi
        service postfix start
        if [ "$LAB_KEEPALIVED" = 1 ]; then keepalived -f /etc/keepalived/keepalived.conf; fi
        ;;
    userdb)  # MariaDB on the data directory Debian's package made (copy-on-write here), then Scénario 2's tables
        service mariadb start >/dev/null
        mariadb < /etc/mxdrill-lab/userdb.sql
        ;;
    mailstore)  # Dovecot first: Postfix's LMTP and SASL sockets are Dovecot's
        add_vmail "$LAB_VMAIL_HOME"
        mkdir -p "$LAB_VMAIL_HOME" && chown "$LAB_VMAIL_ID:$LAB_VMAIL_ID" "$LAB_VMAIL_HOME"
        chgrp dovecot /etc/dovecot/relay-users  # 0640: the relay secret, readable by Dovecot's auth only
        sievec /etc/dovecot/sieve/drill.sieve
        dovecot -c /etc/dovecot/dovecot.conf
        service postfix start
        ;;
    sender)
        service postfix start
        ;;
    esac
    say "services started"
    exec sleep infinity
}

case "${1:-}" in
init) stage_init ;;
services) stage_services ;;
accounts) stage_accounts ;;
wait-storage) wait_tcp "$LAB_STORAGE_ADDR" 22 25 ;;
*) echo "usage: boot.sh init|services|accounts|wait-storage" >&2; exit 2 ;;
esac
