chmod 0755 run.sh
chmod 0444 ro.txt
chmod 0700 dir
