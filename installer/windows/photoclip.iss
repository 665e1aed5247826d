; Inno Setup script: a Windows installer for the PyInstaller build of photoclip.
; UNTESTED: written from Inno Setup 6's documentation; no Windows machine was available to build
; or run it. See installer/README.md.
;
; 1. Build the app on Windows (Git Bash):  bash installer/pyinstaller/build.sh
;    (that also writes build\icons\photoclip.ico)
; 2. Compile:  iscc /DAppVersion=0.1.0 installer\windows\photoclip.iss
;    -> dist\photoclip-0.1.0-setup.exe
; Installs per user by default (no administrator rights needed), like install.sh on Linux.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif

[Setup]
; The AppId identifies the app for upgrades and uninstall: never change it.
AppId={{D61B6884-9CAD-4ACA-945B-AC8A9D06131C}
AppName=photoclip
AppVersion={#AppVersion}
AppPublisher=photoclip
DefaultDirName={autopf}\photoclip
DefaultGroupName=photoclip
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=photoclip-{#AppVersion}-setup
SetupIconFile=..\..\build\icons\photoclip.ico
UninstallDisplayIcon={app}\photoclip-gui.exe
; torch is most of the size; LZMA2 roughly halves it.
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
ChangesAssociations=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
; The whole one-folder build, a bundled model (PHOTOCLIP_BUNDLE_MODEL) included.
Source: "..\..\dist\photoclip\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\photoclip"; Filename: "{app}\photoclip-gui.exe"
Name: "{autodesktop}\photoclip"; Filename: "{app}\photoclip-gui.exe"; Tasks: desktopicon

[Registry]
; "Open with > photoclip" for photos (a ProgID listed under each extension's OpenWithProgids,
; so photoclip never takes over as the default viewer), and "Add to photoclip" on folders.
; photoclip-gui.exe adds the photo's folder, or the folder, to the library.
Root: HKA; Subkey: "Software\Classes\photoclip.image"; ValueType: string; ValueData: "Photo (photoclip)"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\photoclip.image\DefaultIcon"; ValueType: string; ValueData: "{app}\photoclip-gui.exe,0"
Root: HKA; Subkey: "Software\Classes\photoclip.image\shell\open\command"; ValueType: string; ValueData: """{app}\photoclip-gui.exe"" ""%1"""
Root: HKA; Subkey: "Software\Classes\.jpg\OpenWithProgids"; ValueType: none; ValueName: "photoclip.image"; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\.jpeg\OpenWithProgids"; ValueType: none; ValueName: "photoclip.image"; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\.png\OpenWithProgids"; ValueType: none; ValueName: "photoclip.image"; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\.webp\OpenWithProgids"; ValueType: none; ValueName: "photoclip.image"; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\.heic\OpenWithProgids"; ValueType: none; ValueName: "photoclip.image"; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\.heif\OpenWithProgids"; ValueType: none; ValueName: "photoclip.image"; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\.tif\OpenWithProgids"; ValueType: none; ValueName: "photoclip.image"; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\.tiff\OpenWithProgids"; ValueType: none; ValueName: "photoclip.image"; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\.bmp\OpenWithProgids"; ValueType: none; ValueName: "photoclip.image"; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\.gif\OpenWithProgids"; ValueType: none; ValueName: "photoclip.image"; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\Directory\shell\photoclip"; ValueType: string; ValueData: "Add to photoclip"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\Directory\shell\photoclip"; ValueType: string; ValueName: "Icon"; ValueData: "{app}\photoclip-gui.exe"
Root: HKA; Subkey: "Software\Classes\Directory\shell\photoclip\command"; ValueType: string; ValueData: """{app}\photoclip-gui.exe"" ""%1"""

[Run]
Filename: "{app}\photoclip-gui.exe"; Description: "{cm:LaunchProgram,photoclip}"; Flags: nowait postinstall skipifsilent

; The library (catalog, thumbnails) lives in %LOCALAPPDATA%\photoclip and is kept on uninstall.
