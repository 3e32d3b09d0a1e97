ln -s real linkdir
