#!/bin/sh
# adduser for the busybox:1.35 base image: Debian's busybox-static is built without the
# adduser/addgroup applets, so Kiln's base image ships these small scripts with the same
# options (the subset Dockerfiles use).
#   adduser [-h DIR] [-g GECOS] [-s SHELL] [-G GROUP] [-S] [-D] [-H] [-u UID] USER [GROUP]
set -eu
home="" gecos="" shell=/bin/sh group="" system=0 nohome=0 uid=""
while getopts "h:g:s:G:SDHu:k:" opt; do
  case "$opt" in
    h) home=$OPTARG ;; g) gecos=$OPTARG ;; s) shell=$OPTARG ;; G) group=$OPTARG ;;
    S) system=1 ;; D) ;; H) nohome=1 ;; u) uid=$OPTARG ;; k) ;;
    *) echo "usage: adduser [-h DIR] [-g GECOS] [-s SHELL] [-G GROUP] [-S] [-D] [-H] [-u UID] USER" >&2; exit 1 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "adduser: missing user name" >&2; exit 1; }
user=$1
if [ $# -ge 2 ]; then  # "adduser USER GROUP": add an existing user to a group
  grep -q "^$2:" /etc/group || { echo "adduser: unknown group $2" >&2; exit 1; }
  awk -F: -v g="$2" -v u="$user" 'BEGIN{OFS=":"} $1==g { $4 = ($4=="" ? u : $4 "," u) } {print}' \
    /etc/group > /etc/group.new && mv /etc/group.new /etc/group
  exit 0
fi
if grep -q "^$user:" /etc/passwd; then echo "adduser: user '$user' in use" >&2; exit 1; fi
free_id() {  # free_id FILE FIRST LAST
  awk -F: -v lo="$2" -v hi="$3" '{used[$3]=1} END{for(i=lo;i<=hi;i++) if(!(i in used)){print i; exit}}' "$1"
}
if [ -z "$uid" ]; then
  if [ $system -eq 1 ]; then uid=$(free_id /etc/passwd 100 999); else uid=$(free_id /etc/passwd 1000 60000); fi
fi
if [ -n "$group" ]; then
  gid=$(awk -F: -v g="$group" '$1==g{print $3}' /etc/group)
  [ -n "$gid" ] || { echo "adduser: unknown group $group" >&2; exit 1; }
else
  if grep -q "^$user:" /etc/group; then
    gid=$(awk -F: -v g="$user" '$1==g{print $3}' /etc/group)
  else
    gid=$uid
    if awk -F: -v id="$gid" '$3==id{f=1} END{exit !f}' /etc/group; then
      gid=$(free_id /etc/group "$uid" 60000)
    fi
    echo "$user:x:$gid:" >> /etc/group
  fi
fi
[ -n "$home" ] || home=/home/$user
echo "$user:x:$uid:$gid:$gecos:$home:$shell" >> /etc/passwd
[ -f /etc/shadow ] && echo "$user:!:0:0:99999:7:::" >> /etc/shadow
if [ $nohome -eq 0 ] && [ ! -d "$home" ]; then
  mkdir -p "$home" && chown "$uid:$gid" "$home" && chmod 755 "$home"
fi
