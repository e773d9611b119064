// placeholder replaced by the native-backend helper
