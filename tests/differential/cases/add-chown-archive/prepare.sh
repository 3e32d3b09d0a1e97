mkdir -p t && echo m > t/m && chown 1000:1000 t/m && tar -C t -cf files.tar m && rm -r t
