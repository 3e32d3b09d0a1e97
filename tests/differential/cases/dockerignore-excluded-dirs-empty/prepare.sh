mkdir -p src/etc/empty1/deeper src/etc/empty2
