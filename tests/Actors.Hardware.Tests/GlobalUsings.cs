global using Errno = IommuActors.Uapi.Errno;
