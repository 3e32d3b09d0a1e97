chmod 4755 tool
