mkdir -p empty inner/empty2
