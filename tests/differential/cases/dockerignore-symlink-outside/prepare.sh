printf "secret.txt\n" > "$OUTSIDE/ignore"
ln -s "$OUTSIDE/ignore" .dockerignore
