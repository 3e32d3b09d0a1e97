mkdir -p t/sub && echo x > t/sub/x && ln -s sub/x t/l && tar -C t -cf tree.tar . && rm -r t
