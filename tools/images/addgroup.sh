#!/bin/sh
# addgroup for the busybox:1.35 base image (see adduser.sh for why).
#   addgroup [-g GID] [-S] GROUP      create a group
#   addgroup USER GROUP               add an existing user to a group
set -eu
gid="" system=0
while getopts "g:S" opt; do
  case "$opt" in
    g) gid=$OPTARG ;; S) system=1 ;;
    *) echo "usage: addgroup [-g GID] [-S] GROUP | addgroup USER GROUP" >&2; exit 1 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "addgroup: missing group name" >&2; exit 1; }
if [ $# -ge 2 ]; then exec adduser "$1" "$2"; fi
name=$1
if grep -q "^$name:" /etc/group; then echo "addgroup: group '$name' in use" >&2; exit 1; fi
if [ -z "$gid" ]; then
  if [ $system -eq 1 ]; then lo=100 hi=999; else lo=1000 hi=60000; fi
  gid=$(awk -F: -v lo="$lo" -v hi="$hi" '{used[$3]=1} END{for(i=lo;i<=hi;i++) if(!(i in used)){print i; exit}}' /etc/group)
fi
echo "$name:x:$gid:" >> /etc/group
