namespace IommuActors.Host;

/// <summary>
/// A setting the host cannot start with. Its message is one line naming the setting and what it
/// accepts; the host prints it and exits with <see cref="HostRunner.BadConfiguration"/>.
/// </summary>
public sealed class SettingsException(string message, Exception? inner = null) : ArgumentException(message, inner);
