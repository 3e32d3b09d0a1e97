mkdir -p t && echo n > t/n && tar -C t -cf noslash.tar n && rm -r t
