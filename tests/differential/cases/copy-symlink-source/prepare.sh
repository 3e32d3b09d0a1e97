ln -s target.txt link
