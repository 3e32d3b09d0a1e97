mkdir -p t && echo n > t/n && tar -C t -cf files.tar n && rm -r t
