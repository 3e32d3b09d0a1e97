mkdir -p t/sub && echo x > t/sub/x && ln -s sub/x t/l && tar -C t -cf files.tar . && rm -r t
