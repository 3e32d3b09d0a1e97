mkdir -p t && echo g > t/g && tar -C t -czf files.tar.gz g && rm -r t
