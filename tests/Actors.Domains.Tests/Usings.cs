global using Xunit;
global using Errno = IommuActors.Uapi.Errno;
