// React Native CLI autolinking: the TurboModule's CMake project is android/CMakeLists.txt
// (uniffi-bindgen-react-native's), built against the app's codegen output.
module.exports = {
  dependency: {
    platforms: {
      android: {
        cmakeListsPath: 'build/generated/source/codegen/jni/CMakeLists.txt',
      },
      ios: {},
    },
  },
};
