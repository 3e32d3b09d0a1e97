mkdir -p t/d && echo o > t/d/o && chmod 0600 t/d/o && chmod 0711 t/d && chown -R 1000:2000 t/d && tar -C t -cf owners.tar d && rm -r t
