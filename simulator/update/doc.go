// Package update is the data of the simulator's software-update model: the
// timings the engine draws from (Timings, DefaultTimings), the people in
// front of the devices (UserProfile, UserResponse), the devices' situation
// (Environment), and the table of device quirks reported from the field.
// The engine that runs them on a device is in package simulator.
package update
